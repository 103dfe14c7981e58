"""The checkpoint format: one definition for train.py (save/resume) and test.py (load/rebuild).

A checkpoint is a dict saved with ``torch.save`` and loaded with ``weights_only=True``:

- ``format``: :data:`CHECKPOINT_FORMAT` (tells our files from foreign ones);
- ``model_config``: keyword arguments of :func:`modeling.build_model` (backbone, output stride, heads,
  separable convolutions, contour head width and kernel; older checkpoints lack the later settings:
  :data:`LEGACY_MODEL_CONFIG`);
- ``state_dict``: model weights (without a DDP ``module.`` prefix): the model validated and scored, which
  is the weight average when trained with ``--ema-decay``;
- with ``--ema-decay`` also ``train_state_dict`` (the optimised weights) and ``ema_updates``, for resuming;
- optional training state: ``optimizer``, ``scheduler``, ``scaler``, ``epoch``, ``iteration``,
  ``best_metric``, ``rng`` and ``args`` (plain types only, so weights-only loading works).
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from utils.errors import CheckpointError

CHECKPOINT_FORMAT = "cacl-net/1"
# model_config settings that shape the weights
ARCHITECTURE_KEYS = ("backbone", "output_stride", "separable", "contour_hidden", "contour_hidden_kernel")
# what checkpoints made before a setting used
LEGACY_MODEL_CONFIG = {"separable": False, "contour_hidden": 64, "contour_hidden_kernel": 3}
DDP_PREFIX = "module."
PROJECTION_PREFIX = "projection"  # the training-only contrastive heads (projection_t, projection_a)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, then rename.

    A run killed mid-save leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": CHECKPOINT_FORMAT, **state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a CaCL-Net checkpoint with ``weights_only=True``; a missing, corrupt or foreign file is a
    :class:`CheckpointError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint file (corrupt, truncated or another format)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt/foreign files
        reason = "it holds objects other than tensors and plain types" if "Weights only" in str(error) \
            else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint file ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a CaCL-Net checkpoint (no '{CHECKPOINT_FORMAT}' format tag)")
    for key in ("model_config", "state_dict"):
        if key not in state:
            raise CheckpointError(f"{path}: checkpoint has no '{key}'")
    return state


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: tuple[str, ...] = (DDP_PREFIX,)
                   ) -> dict[str, torch.Tensor]:
    """``state_dict`` with ``prefixes`` removed from each name, in order (by default the ``module.``
    prefix DistributedDataParallel adds)."""
    stripped = {}
    for key, value in state_dict.items():
        for prefix in prefixes:
            key = key.removeprefix(prefix)
        stripped[key] = value
    return stripped


def load_model_weights(model: torch.nn.Module, state: dict[str, Any], path: str | os.PathLike,
                       keep_fresh_projection: bool = False) -> None:
    """Load ``state['state_dict']`` into ``model`` strictly; a mismatch names the file and the keys.

    Projection heads are training-only, so their weights are ignored when ``model`` has none. With
    ``keep_fresh_projection`` (fine-tuning, ``train.py --ft``) the model keeps its own, freshly
    initialised projection heads when the checkpoint has none or heads of another shape (e.g. another
    ``--embed-dim``).
    """
    weights = strip_prefixes(state["state_dict"])
    own = model.state_dict()
    weights = {k: v for k, v in weights.items() if k in own or not k.startswith(PROJECTION_PREFIX)}
    if keep_fresh_projection:
        weights = _fresh_projection_if_unfit(own, weights)
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shape_mismatch = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or shape_mismatch:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape_mismatch)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {keys[0]})")
        raise CheckpointError(f"{path}: weights do not fit this architecture: {'; '.join(parts)}"
                              f"{_architecture_hint(model, state)}")
    model.load_state_dict(weights, strict=True)


def saved_model_config(state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's ``model_config`` with the settings it predates filled in
    (:data:`LEGACY_MODEL_CONFIG`), ready for :func:`modeling.build_model`."""
    return {**LEGACY_MODEL_CONFIG, **state["model_config"]}


def _architecture_hint(model: torch.nn.Module, state: dict[str, Any]) -> str:
    """Which architecture settings differ between the checkpoint and ``model`` (settings a checkpoint
    predates read as :data:`LEGACY_MODEL_CONFIG`), as a clause for the error line."""
    own = getattr(model, "config", None)
    if not isinstance(own, dict) or not isinstance(state.get("model_config"), dict):
        return ""
    saved = saved_model_config(state)
    differing = [f"{key}={saved[key]} (this model: {own[key]})" for key in ARCHITECTURE_KEYS
                 if key in own and key in saved and saved[key] != own[key]]
    return f" (the checkpoint has {', '.join(differing)}: pass the matching flags)" if differing else ""


def _fresh_projection_if_unfit(own: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]
                               ) -> dict[str, torch.Tensor]:
    """``weights`` with the model's own projection tensors when the checkpoint's are missing or of
    another shape (all of them, so no head is half loaded)."""
    heads = [k for k in own if k.startswith(PROJECTION_PREFIX)]
    if all(k in weights and weights[k].shape == own[k].shape for k in heads):
        return weights
    kept = {k: v for k, v in weights.items() if not k.startswith(PROJECTION_PREFIX)}
    return {**kept, **{k: own[k] for k in heads}}
