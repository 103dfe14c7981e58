"""Inference speed per backbone and test-time augmentation at 512², and peak memory for one large photo
with tiling.

    python -m benchmarks.bench_infer --backbones mobilenet resnet --images 4 \
        --large 4000x3000 --large-backbone mobilenet --tile 1024 [--tta none hflip flips]

Speed: randomly initialised models (weights do not change the cost), batch 1, after one warm-up, on CPU
and on CUDA when present, the median over ``--images``; with several ``--tta`` modes, each mode's time
relative to the first's, measured in the same run. Memory: a fresh child process predicts one ``--large``
image through :func:`evaluation.inference.predict_batch` (native resolution, tiles of ``--tile``); its
peak RSS is read with ``getrusage`` (CPU) and its peak CUDA allocation with
``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from evaluation.inference import TTA_MODES, predict_batch
from modeling import build_model
from modeling.backbone import BACKBONES

REPO = Path(__file__).resolve().parents[1]  # the child runs as a module from here


def images_per_second(backbone: str, device: torch.device, n: int, size: int, amp: bool,
                      ttas: list[str]) -> list[float]:
    """Images/s of :func:`predict_batch` for each test-time augmentation mode in ``ttas``, batch 1: the
    inverse of the median over ``n`` random ``size``² images, the modes taking turns so that load changes
    hit all of them alike."""
    model = build_model(backbone, with_projection=False).to(device).eval()
    image = torch.randn(1, 3, size, size, device=device)
    seconds: dict[str, list[float]] = {tta: [] for tta in ttas}
    for round_ in range(n + 1):  # round 0 warms up
        for tta in ttas:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            predict_batch(model, image, amp=amp, tta=tta)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_:
                seconds[tta].append(time.perf_counter() - start)
    return [1 / statistics.median(seconds[tta]) for tta in ttas]


def large_image_child(backbone: str, device: str, height: int, width: int, tile: int) -> None:
    """Child process: one tiled prediction; prints peak RSS (GiB), CUDA peak (GiB) and seconds as JSON."""
    dev = torch.device(device)
    model = build_model(backbone, with_projection=False).to(dev).eval()
    image = torch.randn(1, 3, height, width, device=dev)
    start = time.perf_counter()
    prob = predict_batch(model, image, tile=tile)
    assert prob.shape == (1, 1, height, width)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB
    cuda = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else 0.0
    print(json.dumps({"rss_gib": rss, "cuda_gib": cuda, "seconds": seconds}))


def measure_large(backbone: str, device: str, size: str, tile: int) -> dict:
    """Run :func:`large_image_child` in a fresh interpreter so the RSS is that of this job alone."""
    width, height = (int(v) for v in size.split("x"))
    cmd = [sys.executable, "-m", "benchmarks.bench_infer", "--child", backbone, device, str(height),
           str(width), str(tile)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=BACKBONES.names())
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--large", default="4000x3000", help="WIDTHxHEIGHT of the memory test")
    parser.add_argument("--large-backbone", default="mobilenet")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--tta", nargs="+", choices=TTA_MODES, default=["none"],
                        help="test-time augmentation modes to time (ratios against the first)")
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    names = [str(d) for d in devices]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, devices {names}")
    print(f"| backbone | device | amp | tta | images/s at {args.size}² | time vs tta {args.tta[0]} |")
    print("|---|---|---|---|---|---|")
    for backbone in args.backbones:
        for device in devices:
            for amp in ([False, True] if device.type == "cuda" else [False]):
                speeds = images_per_second(backbone, device, args.images, args.size, amp, args.tta)
                for tta, speed in zip(args.tta, speeds):
                    ratio = speeds[0] / speed
                    print(f"| {backbone} | {device} | {amp} | {tta} | {speed:.2f} | {ratio:.2f}× |",
                          flush=True)
    for device in devices:
        peak = measure_large(args.large_backbone, str(device), args.large, args.tile)
        print(f"{args.large} image, {args.large_backbone}, tile {args.tile}, {device}: peak RSS "
              f"{peak['rss_gib']:.2f} GiB, CUDA peak {peak['cuda_gib']:.2f} GiB, {peak['seconds']:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        large_image_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
