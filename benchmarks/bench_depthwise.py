"""Dilated and strided depthwise convolutions: PyTorch's own CPU kernels vs :mod:`modeling.depthwise`.

    python -m benchmarks.bench_depthwise [--size 256] [--batch-size 8] [--repeats 9] [--rounds 3] [--no-amp]

First, per layer: every convolution of train.py's default model that :func:`use_fast_depthwise` converts,
at the input shape it sees on a ``size``² batch, forward + backward, median of ``repeats``. Then the whole
training step of train.py's default (MobileNetV2, separable ASPP/decoder, the full CaCL loss, channels-last)
with the fast path on and off, in alternating rounds on one fixed batch; medians and their ratio.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import time

import torch
from torch import nn

from benchmarks.bench_loader import default_trainer, images_per_second
from engine.args import parse_config
from modeling.depthwise import DepthwiseConv3x3, use_fast_depthwise


def layer_inputs(model: nn.Module, batch: torch.Tensor) -> list[tuple[str, nn.Conv2d, torch.Size]]:
    """Each fast-path convolution of ``model`` with the shape of its input on ``batch``."""
    shapes: dict[str, torch.Size] = {}
    convs = {name: m for name, m in model.named_modules() if type(m) is DepthwiseConv3x3}

    def record(name: str):
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            shapes[name] = args[0].shape
        return hook

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in convs.items()]
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    return [(name, conv, shapes[name]) for name, conv in convs.items()]


def forward_backward_ms(conv: nn.Conv2d, shape: torch.Size, amp: bool, repeats: int) -> float:
    """Median milliseconds of one forward + backward of ``conv`` on a channels-last input of ``shape``."""
    x = torch.randn(shape).to(memory_format=torch.channels_last).requires_grad_()
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = conv(x)
        out.float().sum().backward()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[2:])


def describe(conv: nn.Conv2d, shape: torch.Size) -> str:
    """``C×H×W, stride s`` or ``C×H×W, dilation d``."""
    kind = f"stride {conv.stride[0]}" if conv.stride != (1, 1) else f"dilation {conv.dilation[0]}"
    return f"{shape[1]}×{shape[2]}×{shape[3]}, {kind}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="square input side")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per step")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per layer / steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the whole step")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast")
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, batch {args.batch_size} × {args.size}², amp {args.amp}")

    config = parse_config(["--pretrained", "none", "--batch-size", str(args.batch_size),
                           "--crop-size", str(args.size), *([] if args.amp else ["--no-amp"])])
    trainer = default_trainer(config)
    batch = {"image": torch.randn(args.batch_size, 3, args.size, args.size),
             "mask": (torch.rand(args.batch_size, 1, args.size, args.size) > 0.7).float()}
    print("\n| layer (input C×H×W) | PyTorch ms | fast path ms | ratio |\n|---|---|---|---|")
    for name, conv, shape in layer_inputs(trainer.model, batch["image"]):
        native = use_fast_depthwise(copy.deepcopy(conv), enabled=False)
        base = forward_backward_ms(native, shape, args.amp, args.repeats)
        fast = forward_backward_ms(conv, shape, args.amp, args.repeats)
        row = f"| {name} ({describe(conv, shape)}) | {base:.1f} | {fast:.1f} | {base / fast:.2f}× |"
        print(row, flush=True)

    rates: dict[bool, list[float]] = {True: [], False: []}
    for _, enabled in itertools.product(range(args.rounds), (False, True)):
        use_fast_depthwise(trainer.model, enabled)
        rates[enabled].append(images_per_second(trainer, itertools.repeat(batch), 2, args.repeats))
    base, fast = statistics.median(rates[False]), statistics.median(rates[True])
    print("\n| training step | img/s (median) |\n|---|---|")
    print(f"| PyTorch kernels | {base:.2f} |\n| fast path | {fast:.2f} |\n| ratio | {fast / base:.2f}× |")


if __name__ == "__main__":
    main()
