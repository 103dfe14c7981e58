"""Backbones behind one registry: ``BACKBONES.get(name)(output_stride)``, or :func:`build_backbone`.

| name        | network                      | low level (stride 4) | high level |
|-------------|------------------------------|----------------------|------------|
| `resnet`    | ResNet-50 (torchvision)      | 256                  | 2048       |
| `resnet101` | ResNet-101 (torchvision)     | 256                  | 2048       |
| `xception`  | aligned Xception (DeepLabv3+)| 128                  | 2048       |
| `drn`       | DRN-D-54                     | 256                  | 512        |
| `mobilenet` | MobileNetV2 (torchvision)    | 24                   | 320        |

Every backbone supports output stride 8 and 16.
"""
from __future__ import annotations

from pathlib import Path

from modeling.backbone import drn, mobilenet, resnet, xception  # noqa: F401  (fill the registry)
from modeling.backbone.base import BACKBONES, OUTPUT_STRIDES, Backbone
from modeling.backbone.weights import apply_pretrained

__all__ = ["BACKBONES", "OUTPUT_STRIDES", "Backbone", "build_backbone"]


def build_backbone(name: str, output_stride: int = 16, pretrained: str | Path | None = None) -> Backbone:
    """Build backbone ``name`` at ``output_stride``, initialised from ``pretrained`` (None/"none",
    "auto", "imagenet" or a file path); ``backbone.provenance`` says which weights it got."""
    backbone = BACKBONES.get(name)(output_stride)
    backbone.provenance = apply_pretrained(backbone, pretrained)
    return backbone
