"""The fast-path depthwise convolution against ``nn.Conv2d`` itself: same outputs and gradients on every
path (space-to-batch, centre tap, dilated fallback, float32 strided), same state dict in the model."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from modeling import build_model
from modeling.depthwise import DepthwiseConv3x3, is_fast_path_candidate, use_fast_depthwise


def conv_pair(channels: int, stride: int, dilation: int, bias: bool) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A reference ``nn.Conv2d`` and its fast-path copy with the same (float64) parameters."""
    torch.manual_seed(0)
    reference = nn.Conv2d(channels, channels, 3, stride, padding=dilation, dilation=dilation, groups=channels,
                          bias=bias).double()
    fast = use_fast_depthwise(copy.deepcopy(reference))
    assert type(fast) is DepthwiseConv3x3
    return reference, fast


def outputs_and_grads(conv: nn.Conv2d, x: torch.Tensor) -> list[torch.Tensor]:
    """Output, input gradient and parameter gradients for a fixed upstream gradient."""
    x = x.clone().requires_grad_()
    conv.zero_grad()
    out = conv(x)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape))
    return [out, x.grad] + [p.grad for p in conv.parameters()]


@pytest.mark.parametrize("size,dilation", [
    ((16, 16), 2),  # space-to-batch, divisible
    ((17, 23), 2),  # space-to-batch, padded to a multiple of the dilation
    ((33, 20), 4),  # space-to-batch at output stride 8's dilation
    ((18, 13), 6),  # space-to-batch, exactly 3 × 3 sub-grids
    ((16, 16), 18),  # centre tap only: ASPP's largest rate on a 256² crop
    ((16, 24), 12),  # sub-grids of 2: the dilated kernel itself
])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_dilated_paths_match_conv2d(size: tuple[int, int], dilation: int, channels_last: bool,
                                    bias: bool) -> None:
    reference, fast = conv_pair(5, 1, dilation, bias)
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected, got = outputs_and_grads(reference, x), outputs_and_grads(fast, x)
    for want, have in zip(expected, got):
        torch.testing.assert_close(have, want, rtol=1e-12, atol=1e-12)
    assert got[0].is_contiguous(memory_format=torch.channels_last) == channels_last


def test_strided_path_matches_conv2d_and_runs_in_float32_under_autocast() -> None:
    reference, fast = conv_pair(6, 2, 1, bias=True)
    x = torch.randn(2, 6, 15, 20, dtype=torch.float64)
    for want, have in zip(outputs_and_grads(reference, x), outputs_and_grads(fast, x)):
        torch.testing.assert_close(have, want, rtol=1e-12, atol=1e-12)

    reference, fast = reference.float(), fast.float()
    x = torch.randn(2, 6, 15, 20).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        native, routed = reference(x), fast(x)
    exact = reference(x.float())
    assert routed.dtype == native.dtype == torch.bfloat16
    # float32 arithmetic: only the final rounding to bfloat16 remains
    torch.testing.assert_close(routed, exact.to(torch.bfloat16), rtol=0, atol=0)


def test_only_dilated_or_strided_depthwise_3x3_convs_are_candidates() -> None:
    assert is_fast_path_candidate(nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8))
    assert is_fast_path_candidate(nn.Conv2d(8, 8, 3, 2, padding=1, groups=8))
    assert not is_fast_path_candidate(nn.Conv2d(8, 8, 3, padding=1, groups=8))  # plain: already fast
    assert not is_fast_path_candidate(nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=8))  # not depthwise
    assert not is_fast_path_candidate(nn.Conv2d(8, 8, 3, padding=2, dilation=2))  # dense
    assert not is_fast_path_candidate(nn.Conv2d(8, 8, 5, padding=4, dilation=2, groups=8))  # 5×5
    assert not is_fast_path_candidate(nn.Conv2d(8, 8, 3, 2, padding=2, dilation=2, groups=8))  # both
    assert not is_fast_path_candidate(nn.Conv2d(8, 8, 3, padding=1, dilation=2, groups=8))  # not same padding


def test_model_converts_mobilenet_and_aspp_convs_without_changing_its_state_dict_or_output() -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, separable=True).double().eval()
    fast_convs = [m for m in model.modules() if type(m) is DepthwiseConv3x3]
    # backbone: blocks 2, 4 and 7 strided, 15-17 dilated (14 unstrided, undilated); separable ASPP: 6, 12, 18
    assert sum(m.stride == (2, 2) for m in fast_convs) == 3
    assert sum(m.dilation != (1, 1) for m in fast_convs) == 6
    plain = use_fast_depthwise(copy.deepcopy(model), enabled=False)
    assert not any(type(m) is DepthwiseConv3x3 for m in plain.modules())
    assert list(plain.state_dict()) == list(model.state_dict())
    x = torch.randn(1, 3, 96, 128, dtype=torch.float64)
    with torch.no_grad():
        fast_out, plain_out = model(x), plain(x)
    for key in ("mask", "contour"):
        torch.testing.assert_close(fast_out[key], plain_out[key], rtol=1e-10, atol=1e-10)
