"""Optimisers and learning-rate schedules, each family a registry (its names are the flags' choices).

The schedule sets every parameter group's rate to ``base_lr * group["lr_mult"] * factor(iteration)``, so
the backbone/heads split of :func:`modeling.utils.param_groups` (1× and 10×) survives any group order.
``factor`` is the product of a linear warm-up and a decay (poly, step or cosine) over the whole run,
evaluated per iteration.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch

from utils.errors import UserError
from utils.registry import Registry

# an optimiser builder takes (groups, lr, momentum, weight_decay, nesterov); a schedule's decay takes
# (schedule, iteration) and returns the multiplier of the rate before warm-up
OptimizerBuilder = Callable[[list[dict[str, Any]], float, float, float, bool], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
SCHEDULES: Registry[Callable[["WarmupLR", int], float]] = Registry("learning-rate schedule")


@OPTIMIZERS.register("sgd")
def sgd(groups: list[dict[str, Any]], lr: float, momentum: float, weight_decay: float,
        nesterov: bool) -> torch.optim.Optimizer:
    """SGD with momentum, optionally Nesterov (the method's GPU recipe)."""
    if nesterov and momentum <= 0:
        raise UserError("--nesterov needs --momentum > 0")
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIMIZERS.register("adamw")
def adamw(groups: list[dict[str, Any]], lr: float, momentum: float, weight_decay: float,
          nesterov: bool) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay); momentum and Nesterov are SGD's, unused here."""
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def build_optimizer(groups: Iterable[dict[str, Any]], name: str, lr: float, momentum: float = 0.9,
                    weight_decay: float = 1e-4, nesterov: bool = False) -> torch.optim.Optimizer:
    """The :data:`OPTIMIZERS` entry ``name`` over ``groups`` (``lr`` is the default for a group without
    its own; :class:`WarmupLR` sets every group's rate from its ``lr_mult``)."""
    return OPTIMIZERS.get(name)(list(groups), lr, momentum, weight_decay, nesterov)


@SCHEDULES.register("poly")
def poly_decay(schedule: "WarmupLR", iteration: int) -> float:
    """``(1 - t/T)**power``."""
    return (1.0 - schedule.progress(iteration)) ** schedule.power


@SCHEDULES.register("cos")
def cos_decay(schedule: "WarmupLR", iteration: int) -> float:
    """Half a cosine from 1 to 0 over the run."""
    return 0.5 * (1.0 + math.cos(math.pi * schedule.progress(iteration)))


@SCHEDULES.register("step")
def step_decay(schedule: "WarmupLR", iteration: int) -> float:
    """×``gamma`` every ``step_iters`` iterations."""
    if schedule.step_iters <= 0:
        raise UserError("the step schedule needs a positive step length (--lr-step)")
    return schedule.gamma ** (iteration // schedule.step_iters)


class WarmupLR:
    """Per-iteration learning-rate schedule with linear warm-up; state is one integer (the iteration).

    ``mode``: a :data:`SCHEDULES` name: ``poly`` (``(1 - t/T)**power``), ``step`` (×``gamma`` every
    ``step_iters``) or ``cos`` (half cosine to 0). Warm-up ramps linearly from ``warmup_start`` of the
    rate to the full rate over ``warmup_iters`` iterations.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, mode: str, base_lr: float, total_iters: int,
                 warmup_iters: int = 0, warmup_start: float = 0.1, power: float = 0.9,
                 step_iters: int = 0, gamma: float = 0.1) -> None:
        self.optimizer = optimizer
        self.decay = SCHEDULES.get(mode)
        self.base_lr = base_lr
        self.total_iters = max(1, total_iters)
        self.warmup_iters = warmup_iters
        self.warmup_start = warmup_start
        self.power = power
        self.step_iters = step_iters
        self.gamma = gamma
        self.iteration = 0
        self._apply()

    def progress(self, iteration: int) -> float:
        """The share of the run done at ``iteration``, in [0, 1]."""
        return min(iteration, self.total_iters) / self.total_iters

    def factor(self, iteration: int) -> float:
        """The multiplier of ``base_lr`` at ``iteration`` (0-based)."""
        decay = self.decay(self, iteration)
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
