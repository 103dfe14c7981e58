"""Optimisers and learning-rate schedules.

The schedule sets every parameter group's rate to ``base_lr * group["lr_mult"] * factor(iteration)``, so
the backbone/heads split of :func:`modeling.utils.param_groups` (1× and 10×) survives any group order.
``factor`` is the product of a linear warm-up and a decay (poly, step or cosine) over the whole run,
evaluated per iteration.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from utils.errors import UserError

SCHEDULES = ("poly", "step", "cos")
OPTIMIZERS = ("sgd", "adamw")


def build_optimizer(groups: Iterable[dict[str, Any]], name: str, lr: float, momentum: float = 0.9,
                    weight_decay: float = 5e-4, nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov) or AdamW over ``groups`` (``lr`` is the default for a group
    without its own; :class:`WarmupLR` sets every group's rate from its ``lr_mult``)."""
    groups = list(groups)
    if name == "sgd":
        if nesterov and momentum <= 0:
            raise UserError("--nesterov needs --momentum > 0")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    raise UserError(f"unknown optimizer '{name}'; choose one of: {', '.join(OPTIMIZERS)}")


class WarmupLR:
    """Per-iteration learning-rate schedule with linear warm-up; state is one integer (the iteration).

    ``mode``: ``poly`` (``(1 - t/T)**power``), ``step`` (×``gamma`` every ``step_iters``) or ``cos``
    (half cosine to 0). Warm-up ramps linearly from ``warmup_start`` of the rate to the full rate over
    ``warmup_iters`` iterations.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, mode: str, base_lr: float, total_iters: int,
                 warmup_iters: int = 0, warmup_start: float = 0.1, power: float = 0.9,
                 step_iters: int = 0, gamma: float = 0.1) -> None:
        if mode not in SCHEDULES:
            raise UserError(f"unknown --lr-scheduler '{mode}'; choose one of: {', '.join(SCHEDULES)}")
        if mode == "step" and step_iters <= 0:
            raise UserError("the step schedule needs a positive step length (--lr-step)")
        self.optimizer = optimizer
        self.mode = mode
        self.base_lr = base_lr
        self.total_iters = max(1, total_iters)
        self.warmup_iters = warmup_iters
        self.warmup_start = warmup_start
        self.power = power
        self.step_iters = step_iters
        self.gamma = gamma
        self.iteration = 0
        self._apply()

    def factor(self, iteration: int) -> float:
        """The multiplier of ``base_lr`` at ``iteration`` (0-based)."""
        progress = min(iteration, self.total_iters) / self.total_iters
        if self.mode == "poly":
            decay = (1.0 - progress) ** self.power
        elif self.mode == "cos":
            decay = 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            decay = self.gamma ** (iteration // self.step_iters)
        if iteration < self.warmup_iters:
            ramp = iteration / self.warmup_iters
            decay *= self.warmup_start + (1.0 - self.warmup_start) * ramp
        return decay

    def _apply(self) -> None:
        scale = self.base_lr * self.factor(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = scale * group.get("lr_mult", 1.0)

    def step(self) -> None:
        """Advance one iteration and set the groups' rates for the next optimiser step."""
        self.iteration += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The current learning rate of each parameter group (backbone first), as set by the last step."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, int]:
        """The schedule's position for a checkpoint (the rates follow from it)."""
        return {"iteration": self.iteration}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Jump to a checkpoint's position and set the groups' rates for it."""
        self.iteration = int(state["iteration"])
        self._apply()
