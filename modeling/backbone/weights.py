"""Pretrained backbone weights: a local file, or torchvision's ImageNet weights by name.

``load_pretrained(backbone, path)`` accepts

- a torchvision state dict for ResNet-50/101 and MobileNetV2 (our backbones keep torchvision's layer
  names, so no key mapping is needed; the classifier is skipped);
- our own layout for every backbone: ``torch.save(model.backbone.state_dict(), path)``; a ``backbone.``
  or ``module.`` prefix and a ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper are accepted.

``pretrained="imagenet"`` asks torchvision's weights API (which downloads into ``$TORCH_HOME`` or uses
its cache). Download URLs live in torchvision, never here.
"""
from __future__ import annotations

import http.client
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from modeling.backbone.base import Backbone
from utils.checkpoint import DDP_PREFIX, strip_prefixes
from utils.errors import UserError

IMAGENET = "imagenet"
WRAPPER_KEYS = ("state_dict", "model")
PREFIXES = (DDP_PREFIX, "backbone.")  # DataParallel's, then a full model's


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from ``path`` (weights only); a missing or unreadable file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: pretrained weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise UserError(f"{path}: not a readable weights file ({type(error).__name__})") from None
    for key in WRAPPER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"{path}: not a state dict (expected a mapping of names to tensors)")
    return strip_prefixes(state, PREFIXES)


def load_state_dict(backbone: Backbone, state: Mapping[str, Tensor], source: str) -> int:
    """Copy matching tensors of ``state`` into ``backbone``, print a summary, return the count loaded.

    Shape mismatches and a file with no matching tensor are UserErrors naming ``source``.
    """
    own = backbone.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(type(backbone).ignored_keys)}
    wrong_shape = sorted(k for k in state.keys() & own.keys() if state[k].shape != own[k].shape)
    if wrong_shape:
        key = wrong_shape[0]
        raise UserError(
            f"{source}: {len(wrong_shape)} tensors have the wrong shape for backbone "
            f"{type(backbone).__name__} (e.g. {key}: {tuple(state[key].shape)} vs {tuple(own[key].shape)})"
        )
    matched = state.keys() & own.keys()
    if not matched:
        raise UserError(f"{source}: no tensor matches backbone {type(backbone).__name__}")
    result = backbone.load_state_dict(state, strict=False)
    print(f"pretrained: loaded {len(matched)} tensors into {type(backbone).__name__} from {source}")
    for label, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)):
        if keys:
            print(f"pretrained: {len(keys)} {label} keys: {', '.join(sorted(keys))}")
    return len(matched)


def load_pretrained(backbone: Backbone, path: str | Path) -> int:
    """Load a local weights file into ``backbone`` (see the module docstring); return the count loaded."""
    return load_state_dict(backbone, read_state_dict(path), str(path))


def imagenet_state_dict(backbone: Backbone) -> dict[str, Tensor]:
    """Fetch torchvision's ImageNet weights for ``backbone``; failures are one-line UserErrors."""
    weights = type(backbone).imagenet_weights
    name = type(backbone).__name__
    if weights is None:
        raise UserError(
            f"torchvision has no ImageNet weights for {name}: pass a local file with --pretrained PATH"
        )
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError, http.client.HTTPException) as error:
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise UserError(
            f"could not fetch torchvision weights {weights} for {name} ({reason}); without internet, "
            f"download them elsewhere and pass the file with --pretrained PATH"
        ) from None


def apply_pretrained(backbone: Backbone, pretrained: str | Path | None) -> None:
    """Initialise ``backbone`` from ``pretrained``: None (random), ``"imagenet"`` or a file path."""
    if pretrained is None:
        return
    if str(pretrained) == IMAGENET:
        source = f"torchvision {type(backbone).imagenet_weights}"
        load_state_dict(backbone, imagenet_state_dict(backbone), source)
    else:
        load_pretrained(backbone, pretrained)
