"""Weight initialisation shared by every module we build ourselves (ASPP, decoder, heads, Xception, DRN).

Convolutions get Kaiming-normal weights (fan-out, ReLU gain) and zero biases; normalisation layers start
as the identity (weight 1, bias 0). A prediction layer (one logit per pixel) instead starts small
(:func:`init_prediction`): Kaiming fan-out with one output channel has std sqrt(2), which gives initial
logits of magnitude ~10 and an initial BCE of ~12 instead of ~0.7. Torchvision-built backbones keep torchvision's own initialisation.
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


def init_prediction(conv: nn.Conv2d, std: float = 0.01) -> nn.Conv2d:
    """Initialise a logit-producing convolution with small normal weights and a zero bias; return it."""
    nn.init.normal_(conv.weight, std=std)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv
