"""An exponential moving average of the weights (``--ema-decay``): the model a run validates and saves.

Late in training the weights still wander from step to step, and validation scores with them (CASIA v1's
per-image pixel AUC moves by ±0.01 between the last epochs); the average of the recent weights is a
steadier model at no cost in training steps. BatchNorm statistics are averaged with the weights, so the
averaged model is evaluated with statistics of its own trajectory; integer buffers (BatchNorm's batch
counter) are copied.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from utils.checkpoint import strip_prefixes


class WeightAverage:
    """The moving average ``a ← d·a + (1−d)·w`` of ``model``'s state, updated after each optimiser step.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first updates ``n``, so the average
    is not held back by the initial weights in a short run.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.weights = {name: value.detach().clone() for name, value in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        step = self.updates + 1
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current state."""
        decay = self.current_decay()
        for name, value in model.state_dict().items():
            average = self.weights[name]
            if average.is_floating_point():
                average.lerp_(value.detach(), 1.0 - decay)
            else:
                average.copy_(value)
        self.updates += 1

    @contextlib.contextmanager
    def applied_to(self, model: nn.Module) -> Iterator[None]:
        """Run the block with ``model`` holding the averaged state; its own state is restored after."""
        own = {name: value.detach().clone() for name, value in model.state_dict().items()}
        model.load_state_dict(self.weights)
        try:
            yield
        finally:
            model.load_state_dict(own)

    def load(self, weights: Mapping[str, torch.Tensor], updates: int) -> None:
        """Continue from a saved average (copied in place, keeping device and memory layout)."""
        for name, average in self.weights.items():
            average.copy_(weights[name])
        self.updates = updates


def checkpoint_weights(model: nn.Module, average: WeightAverage | None) -> dict[str, Any]:
    """The checkpoint's weight keys: ``state_dict`` is the model to evaluate (the average when there is
    one), ``train_state_dict`` and ``ema_updates`` let a resumed run continue the optimised weights and
    the average both."""
    own = model.state_dict()
    if average is None:
        return {"state_dict": own}
    return {"state_dict": average.weights, "train_state_dict": own, "ema_updates": average.updates}


def training_weights(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """``checkpoint`` with the optimised weights as ``state_dict`` (they differ from it with an average)."""
    return {**checkpoint, "state_dict": checkpoint.get("train_state_dict", checkpoint["state_dict"])}


def resumed_average(model: nn.Module, decay: float, checkpoint: dict[str, Any]) -> WeightAverage:
    """The average a checkpoint saved, or a fresh one from ``model`` when it was saved without one."""
    average = WeightAverage(model, decay)
    if "ema_updates" in checkpoint:
        average.load(strip_prefixes(checkpoint["state_dict"]), int(checkpoint["ema_updates"]))
    return average
