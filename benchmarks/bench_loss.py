"""Cost of the CaCL objective: train-step time against mask-BCE only, and memory of the contrastive term.

Timing: train.py's default model (MobileNetV2 DeepLabv3+; train.py's model flags, with random init by
default here, and its memory format and bfloat16 autocast, each a flag), SGD step, configurations
interleaved round by round so load from other processes hits them alike. Reported per configuration:
the median wall time and the median CPU time of this process (``time.process_time``) per step. On a
shared machine the CPU time is the steadier measure (other jobs stretch wall time, not the work done),
so the ratios use it; run with one intra-op thread (the default here) so that it does not count OpenMP
spin-waiting.
  * ``bce``       model without projection heads, mask BCE only (a plain DeepLabv3+ baseline);
  * ``bce+heads`` model with projection heads, mask BCE only (the heads run forward but get no gradient);
  * ``cacl``      model with projection heads, the full CaCLCriterion (BCE mask loss, the other terms at
                  their defaults); the heads project only the patches the criterion samples
                  (``model(images, criterion.patch_selector(masks))``).
Loss only: the criterion's forward + backward on fixed model outputs (leaf tensors), full vs mask BCE,
which separates the cost of the loss terms from that of the projection heads they train.
Memory: peak live bytes of CPU tensors allocated inside the contrastive term (patch labels, sampling,
InfoNCE and pivot terms), taken from the torch profiler's allocation/free records, at each input size.

    python -m benchmarks.bench_loss [--size 512 --batch 4 --steps 5 --memory-sizes 512 1024]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from engine.args import add_model_args, model_config
from engine.config import RunConfig
from modeling import build_model
from modeling.utils import freeze_batch_norm, scale_dropout
from utils.device import autocast_dtype
from utils.losses import CaCLCriterion, LossConfig
from utils.losses.contrastive import contour_contrastive
from utils.losses.patches import patch_labels

MIB = 2**20
CACL = LossConfig(loss_type="bce")  # the full objective, over the same mask loss as the baseline
BCE_ONLY = LossConfig(loss_type="bce", lambda_contour=0, lambda_contrast=0, lambda_pivot=0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=512, help="square input size for the timing")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration after 1 warm-up")
    parser.add_argument("--memory-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    add_model_args(parser)  # train.py's model flags and defaults, but random weights unless --pretrained
    parser.set_defaults(pretrained="none")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=RunConfig.amp,
                        help="bfloat16 autocast, as train.py runs on the CPU (default: %(default)s)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                        default=RunConfig.channels_last,
                        help="NHWC memory format (default: train.py's, %(default)s)")
    args = parser.parse_args()
    if args.sync_bn:
        parser.error("--sync-bn synchronises processes under DDP; bench_loss runs in one")
    return args


def make_masks(batch: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """One authentic image, the others with a random tampered rectangle (5–40 % of the side)."""
    masks = torch.zeros(batch, 1, size, size)
    for b in range(1, batch):
        h, w = (int(v) for v in torch.randint(size // 20, 2 * size // 5, (2,), generator=gen))
        y, x = (int(v) for v in torch.randint(0, size - max(h, w), (2,), generator=gen))
        masks[b, :, y:y + h, x:x + w] = 1
    return masks


def bench_model(args: argparse.Namespace, with_projection: bool) -> torch.nn.Module:
    """train.py's model as the flags shape it: backbone, decoder, heads, initialisation, frozen BatchNorm,
    dropout, memory format."""
    config = model_config(args)
    model = build_model(**config.architecture(), with_projection=with_projection,
                        pretrained=config.pretrained)
    freeze_batch_norm(model, config.freeze_bn, config.freeze_backbone_bn)
    return scale_dropout(model, config.dropout_scale).to(memory_format=memory_format(args))


def memory_format(args: argparse.Namespace) -> torch.memory_format:
    """The memory format of the model and images, as train.py's ``--channels-last`` picks it."""
    return torch.channels_last if args.channels_last else torch.contiguous_format


def timed_step(model: torch.nn.Module, criterion: CaCLCriterion, images: torch.Tensor,
               masks: torch.Tensor, optimizer: torch.optim.Optimizer, amp: bool) -> tuple[float, float]:
    """One forward/loss/backward/SGD step, as the trainer runs it; returns its (wall, process CPU) time in
    seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=autocast_dtype(images.device), enabled=amp):
        loss = criterion(model(images, criterion.patch_selector(masks)), masks)["total"]
    loss.backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_configurations(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) step time of each configuration, measured in interleaved rounds."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    images = images.to(memory_format=memory_format(args))
    masks = make_masks(args.batch, args.size, gen)
    bce_only = CaCLCriterion(BCE_ONLY)
    setups = {
        "bce": (bench_model(args, with_projection=False), bce_only),
        "bce+heads": (bench_model(args, with_projection=True), bce_only),
        "cacl": (bench_model(args, with_projection=True), CaCLCriterion(CACL)),
    }
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, (m, _) in setups.items()}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in setups}
    for round_index in range(args.steps + 1):
        for name, (model, criterion) in setups.items():
            elapsed = timed_step(model.train(), criterion, images, masks, optimizers[name], args.amp)
            if round_index > 0:
                times[name].append(elapsed)
    return {name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
            for name, values in times.items()}


def time_criteria(args: argparse.Namespace) -> dict[str, float]:
    """Median CPU seconds of criterion forward + backward on fixed outputs (no model), per criterion."""
    gen = torch.Generator().manual_seed(2)
    masks = make_masks(args.batch, args.size, gen)
    outputs = bench_model(args, with_projection=True)(torch.randn(args.batch, 3, args.size, args.size))
    leaves = {k: v.detach().requires_grad_() for k, v in outputs.items()}
    criteria = {"bce": CaCLCriterion(BCE_ONLY), "cacl": CaCLCriterion(CACL)}
    times: dict[str, list[float]] = {k: [] for k in criteria}
    for _ in range(args.steps + 1):
        for name, criterion in criteria.items():
            start = time.process_time()
            criterion(leaves, masks)["total"].backward()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values[1:]) for name, values in times.items()}


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
    defaults = LossConfig()

    def forward() -> torch.Tensor:
        labels = patch_labels(masks, grid)
        terms = contour_contrastive(embed_t, embed_a, labels, logits, temperature=defaults.temperature,
                                    num_anchors=defaults.num_anchors, hard_ratio=defaults.hard_ratio,
                                    pivot_detach=defaults.pivot_detach)
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
    torch.set_num_threads(args.threads)
    convs = "separable" if args.separable else "standard"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU, {args.steps} timed steps, "
          f"{convs} ASPP/decoder convolutions, contour head hidden width {args.contour_hidden} "
          f"(kernel {args.contour_hidden_kernel}), "
          f"dropout ×{args.dropout_scale}, {'bfloat16 autocast' if args.amp else 'float32'}, "
          f"{'channels-last' if args.channels_last else 'contiguous'}")
    medians = time_configurations(args)
    print(f"\n| configuration ({args.size}², batch {args.batch}) | median wall (s) | median CPU (s) |")
    print("|---|---|---|")
    for name, (wall, cpu) in medians.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print()
    for other, what in (("bce", "whole method"), ("bce+heads", "new loss terms + heads' backward")):
        cpu, wall = (medians["cacl"][i] / medians[other][i] for i in (1, 0))
        print(f"cacl / {other} ({what}): CPU {cpu:.3f}, wall {wall:.3f}  (target <= 1.10)")
    loss_only = time_criteria(args)
    print(f"loss terms only (fwd+bwd on fixed outputs), median CPU: bce {loss_only['bce']:.3f} s, "
          f"cacl {loss_only['cacl']:.3f} s")
    print("\n| input | patches | contrastive fwd peak (MiB) | fwd+bwd peak (MiB) | of which dL/dz (MiB) |")
    print("|---|---|---|---|---|")
    for size in args.memory_sizes:
        mem = contrastive_memory(size, args.batch, args.embed_dim)
        print(f"| {size}² | {mem['patches']} | {mem['forward']:.1f} | {mem['forward+backward']:.1f} | "
              f"{mem['embedding gradients']:.1f} |")


if __name__ == "__main__":
    main()
