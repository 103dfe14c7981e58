"""Cost of the CaCL objective: train-step time against mask-BCE only, and memory of the contrastive term.

Timing: MobileNetV2 DeepLabv3+ (random init), SGD step, configurations interleaved round by round so
load from other processes hits them alike; the median step time of each is reported.
  * ``bce``       model without projection heads, mask BCE only (a plain DeepLabv3+ baseline);
  * ``bce+heads`` model with projection heads, mask BCE only (isolates the criterion's own cost);
  * ``cacl``      model with projection heads, the full default CaCLCriterion.
Memory: peak live bytes of CPU tensors allocated inside the contrastive term (patch labels, sampling,
InfoNCE and pivot terms), taken from the torch profiler's allocation/free records, at each input size.

    python benchmarks/bench_loss.py [--size 512 --batch 4 --steps 5 --memory-sizes 512 1024]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling import build_model  # noqa: E402
from utils.losses import CaCLCriterion  # noqa: E402
from utils.losses.contrastive import contour_contrastive  # noqa: E402
from utils.losses.patches import patch_labels  # noqa: E402

MIB = 2**20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="square input size for the timing")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (after 1 warm-up)")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--embed-dim", type=int, default=128)
    return parser.parse_args()


def make_masks(batch: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """One authentic image, the others with a random tampered rectangle (5–40 % of the side)."""
    masks = torch.zeros(batch, 1, size, size)
    for b in range(1, batch):
        h, w = (int(v) for v in torch.randint(size // 20, 2 * size // 5, (2,), generator=gen))
        y, x = (int(v) for v in torch.randint(0, size - max(h, w), (2,), generator=gen))
        masks[b, :, y:y + h, x:x + w] = 1
    return masks


def timed_step(model: torch.nn.Module, criterion: CaCLCriterion, images: torch.Tensor,
               masks: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """One forward/loss/backward/SGD step; returns its wall time in seconds."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    criterion(model(images), masks)["total"].backward()
    optimizer.step()
    return time.perf_counter() - start


def time_configurations(args: argparse.Namespace) -> dict[str, float]:
    """Median step time of each configuration, measured in interleaved rounds."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    masks = make_masks(args.batch, args.size, gen)
    bce_only = CaCLCriterion(lambda_contour=0, lambda_contrast=0, lambda_pivot=0)
    setups = {
        "bce": (build_model("mobilenet", with_projection=False), bce_only),
        "bce+heads": (build_model("mobilenet", with_projection=True), bce_only),
        "cacl": (build_model("mobilenet", with_projection=True), CaCLCriterion()),
    }
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, (m, _) in setups.items()}
    times: dict[str, list[float]] = {k: [] for k in setups}
    for round_index in range(args.steps + 1):
        for name, (model, criterion) in setups.items():
            elapsed = timed_step(model.train(), criterion, images, masks, optimizers[name])
            if round_index > 0:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_bytes(fn: Callable[[], None]) -> int:
    """Peak of live CPU tensor bytes allocated while ``fn`` runs (profiler allocation/free records)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    records = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    running = peak = 0
    for record in sorted(records, key=lambda e: e.start_ns()):
        running += record.nbytes()
        peak = max(peak, running)
    return peak


def contrastive_memory(size: int, batch: int, embed_dim: int) -> dict[str, float]:
    """Peak MiB of the contrastive term (forward, and forward + backward) at one input size."""
    gen = torch.Generator().manual_seed(1)
    masks = make_masks(batch, size, gen)
    grid = (-(-size // 4), -(-size // 4))
    raw = [torch.randn(batch, embed_dim, *grid, generator=gen).requires_grad_() for _ in range(2)]
    embed_t, embed_a = (F.normalize(r, dim=1) for r in raw)
    logits = torch.randn(batch, 1, size, size, generator=gen)

    def forward() -> torch.Tensor:
        labels = patch_labels(masks, grid)
        terms = contour_contrastive(embed_t, embed_a, labels, logits, num_anchors=1024)
        return terms.contrast + terms.pivot

    def forward_backward() -> None:
        torch.autograd.grad(forward(), (embed_t, embed_a))

    embed_bytes = 2 * embed_t.numel() * embed_t.element_size()
    return {"forward": peak_bytes(lambda: forward().item()) / MIB,
            "forward+backward": peak_bytes(forward_backward) / MIB,
            "embedding gradients": embed_bytes / MIB, "patches": batch * grid[0] * grid[1]}


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    medians = time_configurations(args)
    print(f"\n| configuration | median step (s), {args.size}², batch {args.batch} |\n|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"\nratio cacl / bce       = {medians['cacl'] / medians['bce']:.3f}  (target <= 1.10)")
    print(f"ratio cacl / bce+heads = {medians['cacl'] / medians['bce+heads']:.3f}  (criterion alone)")
    print("\n| input | patches | contrastive fwd peak (MiB) | fwd+bwd peak (MiB) | of which dL/dz (MiB) |")
    print("|---|---|---|---|---|")
    for size in args.memory_sizes:
        mem = contrastive_memory(size, args.batch, args.embed_dim)
        print(f"| {size}² | {mem['patches']} | {mem['forward']:.1f} | {mem['forward+backward']:.1f} | "
              f"{mem['embedding gradients']:.1f} |")


if __name__ == "__main__":
    main()
