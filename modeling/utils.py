"""Model-level helpers for training: frozen or synchronised batch norm, dropout strength, optimizer
parameter groups, the model inside a DDP wrapper, a finiteness check.

These are functions applied to a built model (never constructor flags), so the trainer decides:
``freeze_bn`` before building the optimizer, ``convert_sync_bn`` before wrapping in DDP.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from modeling.backbone.base import Backbone
from utils.errors import UserError

__all__ = ["FrozenBatchNorm2d", "freeze_bn", "freeze_batch_norm", "convert_sync_bn", "scale_dropout",
           "param_groups", "unwrap", "is_finite_model"]

BACKBONE_LR_MULT = 1.0
HEAD_LR_MULT = 10.0


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def is_finite_model(model: nn.Module) -> bool:
    """Whether every parameter and buffer (BatchNorm statistics included) is finite."""
    tensors = [*model.parameters(), *model.buffers()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def scale_dropout(model: nn.Module, factor: float) -> nn.Module:
    """Multiply every dropout probability in ``model`` (DeepLabv3+: ASPP 0.5, decoder 0.5 and 0.1) by
    ``factor`` in [0, 1/max p], in place, once after building; 0 turns dropout off. Returns ``model``."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if factor < 0 or any(m.p * factor > 1 for m in layers):
        raise UserError(f"--dropout-scale must keep every dropout probability in [0, 1], got {factor}")
    for layer in layers:
        layer.p *= factor
    return model


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """Batch norm that always normalises with its stored statistics and never updates anything.

    It stays in eval mode through ``model.train()`` and its affine parameters do not require grad;
    its state dict is that of ``nn.BatchNorm2d``, so checkpoints load into unfrozen models unchanged.
    """

    def train(self, mode: bool = True) -> "FrozenBatchNorm2d":
        return super().train(False)


def frozen_copy(bn: nn.modules.batchnorm._BatchNorm) -> FrozenBatchNorm2d:
    """A :class:`FrozenBatchNorm2d` holding ``bn``'s statistics and affine parameters."""
    frozen = FrozenBatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    frozen.load_state_dict(bn.state_dict(), assign=True)  # assign keeps device and dtype
    return frozen.requires_grad_(False)


def freeze_bn(model: nn.Module) -> nn.Module:
    """Replace every batch-norm layer in ``model`` by a frozen copy, in place; return ``model``.

    Pass ``model.backbone`` to freeze only the backbone. Call before building the optimizer.
    """
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, FrozenBatchNorm2d):
            setattr(model, name, frozen_copy(child))
        else:
            freeze_bn(child)
    return model


def freeze_batch_norm(model: nn.Module, everywhere: bool, backbone_only: bool) -> nn.Module:
    """Freeze every batch norm of ``model`` (``everywhere``) or only its backbone's; return ``model``.

    The one place train.py's ``--freeze-bn`` and ``--freeze-backbone-bn`` take effect.
    """
    if everywhere:
        return freeze_bn(model)
    if backbone_only:
        freeze_bn(model.backbone)
    return model


def convert_sync_bn(model: nn.Module) -> nn.Module:
    """Return ``model`` with every batch norm turned into ``SyncBatchNorm`` (for multi-GPU training)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def param_groups(model: nn.Module, lr: float, head_lr_mult: float = HEAD_LR_MULT) -> list[dict[str, Any]]:
    """Optimizer groups: backbone parameters at ``lr``, all others (the fresh decoder and heads) at
    ``head_lr_mult * lr`` (10: the DeepLabv3+ convention).

    Each group carries ``lr_mult`` and ``name`` so schedulers scale by tag, not by order.
    Parameters that do not require grad are left out; empty groups are dropped.
    """
    backbone_ids = {
        id(p) for module in model.modules() if isinstance(module, Backbone) for p in module.parameters()
    }
    split: dict[str, list[Tensor]] = {"backbone": [], "head": []}
    for parameter in model.parameters():
        if parameter.requires_grad:
            split["backbone" if id(parameter) in backbone_ids else "head"].append(parameter)
    mults = {"backbone": BACKBONE_LR_MULT, "head": head_lr_mult}
    return [
        {"params": params, "lr": lr * mults[name], "lr_mult": mults[name], "name": name}
        for name, params in split.items()
        if params
    ]
