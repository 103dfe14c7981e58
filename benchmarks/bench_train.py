"""Samples/s of one full training step (forward, CaCL loss, backward, SGD update) per backbone.

    python -m benchmarks.bench_train [--size 512] [--batch-size 4] [--repeats 3] [--warmup 1]
                                     [--backbones resnet mobilenet ...] [--device cpu|cuda] [--amp]
                                     [--convs standard separable]

The step is :meth:`engine.trainer.Trainer.step` on a fixed random batch (no data loading), with the
method's default loss (all four terms), contiguous (NCHW) and channels-last memory formats, with standard
or depthwise-separable (``--separable``) 3×3 convolutions in ASPP and the decoder. Warm-up steps are not
timed; the ratio column is the separable rate over the standard one measured in the same run.
"""
from __future__ import annotations

import argparse
import time

import torch

from engine.optim import WarmupLR, build_optimizer
from engine.state import TrainerConfig
from engine.trainer import AMPTrainer, Trainer
from modeling import build_model
from modeling.backbone import BACKBONES
from modeling.utils import param_groups
from utils.losses import CaCLCriterion


def make_trainer(backbone: str, device: torch.device, channels_last: bool, amp: bool,
                 separable: bool = False) -> Trainer:
    """A Trainer for ``backbone`` with the method's loss and optimiser, ready to ``step``."""
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(backbone, 16, separable=separable).to(device, memory_format=memory_format)
    optimizer = build_optimizer(param_groups(model, 0.007), "sgd", 0.007, momentum=0.9)
    scheduler = WarmupLR(optimizer, "poly", 0.007, total_iters=1000)
    trainer_class = AMPTrainer if amp else Trainer
    return trainer_class(model, CaCLCriterion(), optimizer, scheduler, [], TrainerConfig(epochs=1,
                         channels_last=channels_last), device)


def samples_per_second(trainer: Trainer, batch: dict[str, torch.Tensor], warmup: int, repeats: int) -> float:
    """Training samples per second over ``repeats`` timed steps."""
    trainer.model.train()
    for _ in range(warmup):
        trainer.step(batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    start = time.perf_counter()
    for _ in range(repeats):
        trainer.step(batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return repeats * len(batch["image"]) / (time.perf_counter() - start)


def random_batch(size: int, batch_size: int) -> dict[str, torch.Tensor]:
    """Images and masks with one tampered rectangle each (so every loss term is active)."""
    generator = torch.Generator().manual_seed(0)
    mask = torch.zeros(batch_size, 1, size, size)
    mask[:, :, size // 4: size // 2, size // 3: 2 * size // 3] = 1
    return {"image": torch.randn(batch_size, 3, size, size, generator=generator), "mask": mask}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=BACKBONES.names(), choices=BACKBONES.names(),
                        help="backbones to time")
    parser.add_argument("--size", type=int, default=512, help="square input side")
    parser.add_argument("--batch-size", type=int, default=4, help="samples per step")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="device")
    parser.add_argument("--amp", action="store_true", help="mixed precision (AMPTrainer)")
    parser.add_argument("--convs", nargs="+", default=["standard"], choices=("standard", "separable"),
                        help="3x3 convolutions of ASPP and the decoder to time")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = random_batch(args.size, args.batch_size)
    print(f"device {device}, {torch.get_num_threads()} threads, {args.size}px, batch {args.batch_size}, "
          f"amp {args.amp}, {args.repeats} timed steps")
    print("| backbone | convs | NCHW samples/s | channels-last samples/s | channels-last vs standard |")
    print("|---|---|---|---|---|")
    for backbone in args.backbones:
        baseline = None
        for convs in args.convs:
            rates = [samples_per_second(make_trainer(backbone, device, channels_last, args.amp,
                                                     convs == "separable"), batch, args.warmup, args.repeats)
                     for channels_last in (False, True)]
            baseline = baseline or rates[1]
            print(f"| {backbone} | {convs} | {rates[0]:.2f} | {rates[1]:.2f} | {rates[1] / baseline:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
