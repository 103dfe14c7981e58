"""Model zoo benchmark: parameters, forward and forward+backward time, peak memory per backbone.

Run from the repository root:  python -m benchmarks.bench_model --repeats 3

Times are medians over ``--repeats`` runs after ``--warmup`` runs. "forward" is inference (eval mode, no
autograd); "fwd+bwd" is a training step without the optimizer (train mode, backward of the summed
outputs). Each measurement runs in a fresh process. Peak memory is what the warm-up and timed steps add
on top of the resident model and input: on CUDA ``max_memory_allocated`` minus the allocation before;
on CPU the rise of the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``;
"n/a" where Linux does not allow that).
"""
from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import torch

from modeling import build_model
from modeling.backbone import BACKBONES, OUTPUT_STRIDES
from utils.errors import run_cli

MIB = 2**20
PROC_STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=BACKBONES.names(), choices=BACKBONES.names())
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--size", type=int, default=512, help="square input side in pixels")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--output-stride", type=int, default=16, choices=OUTPUT_STRIDES)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    return parser.parse_args()


def proc_status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (e.g. VmRSS, VmHWM) in bytes."""
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def start_peak(device: torch.device) -> int | None:
    """Reset the peak-memory counter of ``device``; return the current usage (None: not measurable)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        CLEAR_REFS.write_text("5")  # "5" resets VmHWM to the current VmRSS
        return proc_status_bytes("VmRSS")
    except (OSError, KeyError):
        return None


def peak_since(device: torch.device, baseline: int | None) -> int | None:
    """Peak usage of ``device`` above ``baseline`` since :func:`start_peak`."""
    if baseline is None:
        return None
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) - baseline
    return proc_status_bytes("VmHWM") - baseline


def make_step(model: torch.nn.Module, images: torch.Tensor, mode: str) -> Callable[[], None]:
    """The work to time: inference (``forward``) or a training step without optimizer (``train``)."""

    def forward() -> None:
        with torch.no_grad():
            model.eval()(images)

    def train() -> None:
        model.zero_grad(set_to_none=True)
        outputs = model.train()(images)
        sum(value.float().mean() for value in outputs.values()).backward()

    return forward if mode == "forward" else train


def run_case(
    backbone: str, device_name: str, mode: str, args: argparse.Namespace
) -> tuple[float, int | None]:
    """Median time of one ``mode`` step and the peak memory it adds (run in a fresh process each)."""
    device = torch.device(device_name)
    torch.manual_seed(0)
    model = build_model(backbone, args.output_stride).to(device)
    images = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    step = make_step(model, images, mode)
    baseline = start_peak(device)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak_since(device, baseline)


def in_fresh_process(*case: object) -> tuple[float, int | None]:
    """Run :func:`run_case` in a new process, so neither allocator caches nor earlier peaks leak in."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_case, *case).result()


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.0f}"


def bench_backbone(name: str, device_name: str, args: argparse.Namespace) -> dict[str, object]:
    """One table row: parameters, then inference and training step, each in a fresh process."""
    params = sum(p.numel() for p in build_model(name, args.output_stride).parameters())
    fwd_time, fwd_peak = in_fresh_process(name, device_name, "forward", args)
    train_time, train_peak = in_fresh_process(name, device_name, "train", args)
    return {
        "backbone": name,
        "device": device_name,
        "params (M)": f"{params / 1e6:.1f}",
        "forward (s)": f"{fwd_time:.3f}",
        "fwd+bwd (s)": f"{train_time:.3f}",
        "peak fwd (MiB)": mib(fwd_peak),
        "peak fwd+bwd (MiB)": mib(train_peak),
    }


def markdown_table(rows: list[dict[str, object]]) -> str:
    """Rows as a Markdown table (columns from the first row)."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} CPU threads, input {args.batch_size}x3x{args.size}x{args.size}, "
        f"OS {args.output_stride}, median of {args.repeats} after {args.warmup} warm-up"
    )
    for name in devices:
        if name.startswith("cuda"):
            print(f"# {name}: {torch.cuda.get_device_name(torch.device(name))}")
    rows = []
    for device_name in devices:
        for backbone in args.backbones:
            rows.append(bench_backbone(backbone, device_name, args))
            print(rows[-1], flush=True)
    print(markdown_table(rows))


if __name__ == "__main__":
    run_cli(main)
