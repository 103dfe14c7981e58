"""DRN-D-54 (Yu et al., "Dilated Residual Networks", 2017), with output stride 8 or 16.

Layout of DRN-D: a 7×7 stem at full resolution, two plain conv levels (the second strided), bottleneck
levels 3-6 (ResNet-50 depths 3/4/6/3), then two plain "degridding" conv levels whose dilation steps back
down. The paper's network has output stride 8 (levels 5 and 6 dilated by 2 and 4); for output stride 16
level 5 keeps its stride and every later dilation is halved. Bottlenecks reuse torchvision's block.
Weights use our own layout (save ``model.backbone.state_dict()``); torchvision has no DRN.
"""
from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

from modeling.backbone.base import BACKBONES, Backbone
from modeling.init import init_weights

# output stride -> (stride of level 5, dilations of levels 5, 6, 7)
STRIDE_PLAN = {8: (1, 2, 4, 2), 16: (2, 1, 2, 1)}


def conv_level(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """One plain DRN level: 3×3 conv → BN → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def bottleneck_level(
    in_ch: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    """``blocks`` bottlenecks with ``planes*4`` outputs; the first one strided with a projection shortcut."""
    out_ch = planes * Bottleneck.expansion
    shortcut = None
    if stride != 1 or in_ch != out_ch:
        shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
    layers = [Bottleneck(in_ch, planes, stride, shortcut, dilation=dilation)]
    layers += [Bottleneck(out_ch, planes, dilation=dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


@BACKBONES.register("drn")
class DRND54(Backbone):
    """DRN-D-54; low level = level 3 (stride 4, 256 channels), high level = level 8 (512 channels)."""

    low_level_channels = 256
    high_level_channels = 512

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__(output_stride)
        stride5, dilation5, dilation6, dilation7 = STRIDE_PLAN[output_stride]
        self.layer0 = nn.Sequential(
            nn.Conv2d(3, 16, 7, padding=3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        self.layer1 = conv_level(16, 16)
        self.layer2 = conv_level(16, 32, stride=2)
        self.layer3 = bottleneck_level(32, 64, 3, stride=2)
        self.layer4 = bottleneck_level(256, 128, 4, stride=2)
        self.layer5 = bottleneck_level(512, 256, 6, stride=stride5, dilation=dilation5)
        self.layer6 = bottleneck_level(1024, 512, 3, dilation=dilation6)
        self.layer7 = conv_level(2048, 512, dilation=dilation7)
        self.layer8 = conv_level(512, 512)
        init_weights(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(level 3 output, level 8 output)``."""
        low = self.layer3(self.layer2(self.layer1(self.layer0(x))))
        x = self.layer6(self.layer5(self.layer4(low)))
        return low, self.layer8(self.layer7(x))
