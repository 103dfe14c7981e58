"""Does data loading keep up? The default training loop fed by the real synthetic loader vs by one
pre-made batch from memory, measured in the same run.

    python -m benchmarks.bench_loader [--steps 40] [--warmup 5] [--workers 0 1 2] [--threads N]

Both loops run :meth:`engine.trainer.Trainer.step` with train.py's default flags (MobileNetV2,
256², batch 8, bf16 autocast, channels-last, the full CaCL loss); only the batch source differs. The
printed ratio (loader / memory images/s) is the share of compute time the loader leaves to the model;
workers that compete with the model's threads for the same cores lower it.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Iterable, Iterator

import torch

from dataloaders import make_data_loader
from engine.args import parse_config
from engine.config import TrainConfig
from engine.optim import WarmupLR, build_optimizer
from engine.trainer import AMPTrainer, TrainerConfig
from modeling import build_model
from modeling.utils import param_groups, scale_dropout
from utils.losses import CaCLCriterion


def default_trainer(config: TrainConfig) -> AMPTrainer:
    """A trainer with train.py's default model, loss and optimiser (random init: speed only)."""
    model_config, optim = config.model, config.optim
    torch.manual_seed(config.run.seed)
    model = build_model(**model_config.architecture(), pretrained="none")
    model = scale_dropout(model, model_config.dropout_scale).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(param_groups(model, optim.lr), optim.optimizer, optim.lr, optim.momentum,
                                optim.weight_decay, optim.nesterov)
    scheduler = WarmupLR(optimizer, optim.lr_scheduler, optim.lr, total_iters=10_000)
    trainer_config = TrainerConfig(epochs=1, channels_last=True)
    return AMPTrainer(model, CaCLCriterion(config.loss), optimizer, scheduler, [], trainer_config,
                      torch.device("cpu"))


def images_per_second(trainer: AMPTrainer, batches: Iterator[dict], warmup: int, steps: int) -> float:
    """Images/s of ``steps`` training steps on ``batches`` after ``warmup`` untimed ones."""
    trainer.model.train()
    for batch in itertools.islice(batches, warmup):
        trainer.step(batch)
    images, start = 0, time.perf_counter()
    for batch in itertools.islice(batches, steps):
        trainer.step(batch)
        images += len(batch["image"])
    return images / (time.perf_counter() - start)


def endless(loader: Iterable[dict]) -> Iterator[dict]:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="loader workers to try")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (median reported)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, {args.steps} timed steps, median of {args.rounds} alternating rounds")
    print("| workers | memory img/s | loader img/s | loader / memory |")
    print("|---|---|---|---|")
    for workers in args.workers:
        config = parse_config(["--workers", str(workers)])
        loader = make_data_loader(config.data, "train")
        fixed = next(iter(loader))
        memory, real = [], []
        for _ in range(args.rounds):
            memory.append(images_per_second(default_trainer(config), itertools.repeat(fixed), args.warmup,
                                            args.steps))
            real.append(images_per_second(default_trainer(config), endless(loader), args.warmup, args.steps))
        mem, rate = statistics.median(memory), statistics.median(real)
        print(f"| {workers} | {mem:.2f} | {rate:.2f} | {rate / mem:.2f} |", flush=True)


if __name__ == "__main__":
    main()
