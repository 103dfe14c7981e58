"""Dilated ResNet-50 / ResNet-101 backbones built from torchvision's ResNet.

The torchvision layers are kept under their torchvision names (``conv1``, ``bn1``, ``layer1`` …), so a
torchvision state dict loads without key mapping; only the classifier ``fc`` is dropped. The last one
(OS 16) or two (OS 8) stages use dilation instead of stride, as in DeepLabv3+ (without multi-grid).
"""
from __future__ import annotations

from typing import Callable, ClassVar

from torch import Tensor
from torchvision.models import ResNet, ResNet50_Weights, ResNet101_Weights, resnet50, resnet101

from modeling.backbone.base import BACKBONES, Backbone

# Which of layer2..layer4 trade their stride for dilation, per output stride.
DILATED_STAGES = {16: [False, False, True], 8: [False, True, True]}


class ResNetBackbone(Backbone):
    """A torchvision ResNet without its classifier; low level = ``layer1`` (stride 4, 256 channels)."""

    low_level_channels = 256
    high_level_channels = 2048
    ignored_keys = ("fc.",)
    builder: ClassVar[Callable[..., ResNet]]

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__(output_stride)
        net = type(self).builder(weights=None, replace_stride_with_dilation=DILATED_STAGES[output_stride])
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(layer1 output, layer4 output)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        return low, self.layer4(self.layer3(self.layer2(low)))


@BACKBONES.register("resnet")
class ResNet50Backbone(ResNetBackbone):
    """ResNet-50 (torchvision layout)."""

    builder = staticmethod(resnet50)
    imagenet_weights = ResNet50_Weights.IMAGENET1K_V1


@BACKBONES.register("resnet101")
class ResNet101Backbone(ResNetBackbone):
    """ResNet-101 (torchvision layout), the backbone of the released CaCL-Net."""

    builder = staticmethod(resnet101)
    imagenet_weights = ResNet101_Weights.IMAGENET1K_V1
