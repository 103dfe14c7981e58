"""Images/s of the training loader: synthetic and folder datasets, at a crop size, with 0 and 2 workers.

    python -m benchmarks.bench_data [--crop 512] [--batches 12] [--workers 0 2] [--batch-size 8]

The folder dataset is a temporary Tp/Gt tree of 640x480 JPEGs (+ PNG masks) made by the synthetic
generator. The first batch (worker start-up) is not timed.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataloaders import DataConfig, add_data_args, make_data_loader
from dataloaders.synthetic.photos import PhotoPool, bundled_sources
from dataloaders.synthetic.tamper import generate


def make_folder_dataset(root: Path, count: int, seed: int = 0) -> None:
    """``count`` synthetic 640x480 JPEG/PNG pairs in ``root/Tp`` and ``root/Gt``."""
    (root / "Tp").mkdir(parents=True)
    (root / "Gt").mkdir()
    pool = PhotoPool(bundled_sources())
    for index in range(count):
        sample = generate(pool, 640, np.random.default_rng([seed, index]))
        Image.fromarray(sample.image).resize((640, 480)).save(root / "Tp" / f"{index:04d}.jpg", quality=90)
        mask = Image.fromarray(sample.mask.astype(np.uint8) * 255).resize((640, 480), Image.NEAREST)
        mask.save(root / "Gt" / f"{index:04d}_gt.png")


def loader_rate(flags: list[str], batches: int) -> float:
    """Images per second over ``batches`` batches after the first."""
    args = add_data_args(argparse.ArgumentParser()).parse_args(flags)
    loader = make_data_loader(DataConfig.from_flags(vars(args)), "train")
    iterator = iter(loader)
    next(iterator)
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        seen += next(iterator)["image"].shape[0]
    return seen / (time.perf_counter() - start)


def generator_rate(size: int, count: int) -> float:
    """Raw synthetic generation (one process, no tensors), images per second."""
    pool = PhotoPool(bundled_sources())
    generate(pool, size, np.random.default_rng(0))
    start = time.perf_counter()
    for index in range(count):
        generate(pool, size, np.random.default_rng([1, index]))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--generator-sizes", type=int, nargs="+", default=[256, 512])
    opts = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {torch.multiprocessing.cpu_count()}")
    for size in opts.generator_sizes:
        print(f"| generator only | {size} | 0 | {generator_rate(size, 60):.1f} |")
    common = ["--crop-size", str(opts.crop), "--batch-size", str(opts.batch_size)]
    n_images = opts.batch_size * (opts.batches + 1)
    with tempfile.TemporaryDirectory() as tmp:
        make_folder_dataset(Path(tmp), n_images)
        datasets = {"synthetic": ["--dataset", "synthetic", "--synthetic-size", str(n_images)],
                    "folder": ["--dataset", "folder", "--data-root", tmp, "--val-fraction", "0",
                               "--test-fraction", "0"]}
        for name, flags in datasets.items():
            for workers in opts.workers:
                rate = loader_rate(flags + common + ["--workers", str(workers)], opts.batches)
                print(f"| {name} loader | {opts.crop} | {workers} | {rate:.1f} |")


if __name__ == "__main__":
    main()
