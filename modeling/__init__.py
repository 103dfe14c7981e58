"""The CaCL-Net model zoo. :func:`build_model` is the one public constructor."""
from __future__ import annotations

from pathlib import Path

from modeling.deeplab import DeepLab
from modeling.depthwise import use_fast_depthwise
from modeling.heads import CONTOUR_HIDDEN, CONTOUR_HIDDEN_KERNEL, CONTOUR_HIDDEN_KERNELS

__all__ = ["CONTOUR_HIDDEN_KERNELS", "DeepLab", "build_model"]


def build_model(
    backbone: str = "resnet",
    output_stride: int = 16,
    embed_dim: int = 128,
    with_projection: bool = True,
    pretrained: str | Path | None = None,
    separable: bool = False,
    contour_hidden: int = CONTOUR_HIDDEN,
    contour_hidden_kernel: int = CONTOUR_HIDDEN_KERNEL,
) -> DeepLab:
    """Build a DeepLabv3+ CaCL-Net; ``model.config`` holds these arguments (minus ``pretrained``).

    ``with_projection=False`` drops the training-only projection heads (inference models);
    ``separable`` makes ASPP's and the decoder's 3×3 convolutions depthwise-separable; ``contour_hidden``
    is the contour head's hidden width (0: one 3×3 conv) and ``contour_hidden_kernel`` its hidden conv's
    kernel (3: 3×3 hidden, 1×1 out; 1: 1×1 hidden, 3×3 out). Dilated and strided depthwise convolutions
    take the fast CPU path of :mod:`modeling.depthwise`.
    """
    model = DeepLab(backbone, output_stride, embed_dim, with_projection, pretrained, separable, contour_hidden,
                    contour_hidden_kernel)
    return use_fast_depthwise(model)
