"""Weight initialisation shared by every module we build ourselves (ASPP, decoder, heads, Xception, DRN).

Convolutions get Kaiming-normal weights (fan-out, ReLU gain) and zero biases; normalisation layers start
as the identity (weight 1, bias 0). Torchvision-built backbones keep torchvision's own initialisation.
"""
from __future__ import annotations

from torch import nn


def init_weights(module: nn.Module) -> nn.Module:
    """Initialise every convolution and normalisation layer inside ``module`` in place; return it."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            if layer.weight is not None:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)
    return module
