"""Aligned Xception, the DeepLabv3+ variant (Chen et al., 2018, §3.2).

Differences from the ImageNet Xception: a deeper middle flow (16 blocks), every max-pooling replaced by
a strided separable convolution (so stride can become dilation), and batch norm + ReLU after every
3×3 depthwise convolution. Output stride 16: entry-flow stride 2 kept, exit dilated by 2; output stride
8: the third entry block is unstrided, middle flow dilated by 2, exit by 4. Weights use our own layout
(save ``model.backbone.state_dict()``); torchvision has no Xception.
"""
from __future__ import annotations

from torch import Tensor, nn

from modeling.backbone.base import BACKBONES, Backbone
from modeling.init import init_weights

MIDDLE_BLOCKS = 16
# output stride -> (stride of entry block 3, middle-flow dilation, exit block dilation, exit convs dilation)
STRIDE_PLAN = {16: (2, 1, 1, 2), 8: (1, 2, 2, 4)}


class SeparableConv(nn.Sequential):
    """3×3 depthwise conv → BN → ReLU → 1×1 pointwise conv → BN; ``pre_relu`` adds a leading ReLU."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, pre_relu: bool = True
    ) -> None:
        layers = [nn.ReLU()] if pre_relu else []
        layers += [
            nn.Conv2d(in_ch, in_ch, 3, stride, padding=dilation, dilation=dilation, groups=in_ch, bias=False),
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        super().__init__(*layers)


class XceptionBlock(nn.Module):
    """Three separable convs (the last one strided) plus a residual shortcut (1×1 conv when shapes change).

    ``channels`` lists the output channels of the three convs.
    """

    def __init__(
        self,
        in_ch: int,
        channels: tuple[int, int, int],
        stride: int = 1,
        dilation: int = 1,
        start_with_relu: bool = True,
    ) -> None:
        super().__init__()
        ins = (in_ch, *channels[:2])
        self.convs = nn.Sequential(
            *(
                SeparableConv(i, o, stride if k == 2 else 1, dilation, pre_relu=start_with_relu or k > 0)
                for k, (i, o) in enumerate(zip(ins, channels))
            )
        )
        out_ch = channels[-1]
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(x) + self.shortcut(x)


@BACKBONES.register("xception")
class AlignedXception(Backbone):
    """Aligned Xception-65; low level = entry block 1 (stride 4, 128 channels), high level 2048 channels."""

    low_level_channels = 128
    high_level_channels = 2048

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__(output_stride)
        entry_stride, middle_dilation, exit_dilation, conv_dilation = STRIDE_PLAN[output_stride]
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.entry1 = XceptionBlock(64, (128, 128, 128), stride=2, start_with_relu=False)
        self.entry2 = XceptionBlock(128, (256, 256, 256), stride=2)
        self.entry3 = XceptionBlock(256, (728, 728, 728), stride=entry_stride)
        self.middle = nn.Sequential(
            *(XceptionBlock(728, (728, 728, 728), dilation=middle_dilation) for _ in range(MIDDLE_BLOCKS))
        )
        self.exit_block = XceptionBlock(728, (728, 1024, 1024), dilation=exit_dilation)
        self.exit_convs = nn.Sequential(
            SeparableConv(1024, 1536, dilation=conv_dilation, pre_relu=False),
            nn.ReLU(inplace=True),
            SeparableConv(1536, 1536, dilation=conv_dilation, pre_relu=False),
            nn.ReLU(inplace=True),
            SeparableConv(1536, 2048, dilation=conv_dilation, pre_relu=False),
            nn.ReLU(inplace=True),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(entry block 1 output, exit flow output)``."""
        low = self.entry1(self.stem(x))
        x = self.middle(self.entry3(self.entry2(low)))
        return low, self.exit_convs(self.exit_block(x))
