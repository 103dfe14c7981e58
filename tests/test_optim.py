"""Optimisers and learning-rate schedules against torch's own schedulers and hand-computed values."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from engine.args import build_parser
from engine.optim import OPTIMIZERS, SCHEDULES, WarmupLR, build_optimizer
from utils.errors import UserError

BASE_LR = 0.01


def _groups() -> list[dict]:
    """Heads first, backbone second: the schedule must follow the tags, not the order."""
    head, backbone = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    return [{"params": head.parameters(), "lr_mult": 10.0, "name": "head"},
            {"params": backbone.parameters(), "lr_mult": 1.0, "name": "backbone"}]


def _trajectory(scheduler, optimizer, steps: int) -> list[float]:
    """The groups' rates before each of ``steps`` steps, flattened (step-major)."""
    rates = []
    for _ in range(steps):
        rates.extend(group["lr"] for group in optimizer.param_groups)
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("mode, reference", [
    ("poly", lambda opt: torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=20, power=0.9)),
    ("cos", lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)),
    ("step", lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1)),
])
def test_schedule_matches_torch_scheduler(mode, reference) -> None:
    ours_opt = build_optimizer(_groups(), "sgd", BASE_LR)
    ours = WarmupLR(ours_opt, mode, BASE_LR, total_iters=20, step_iters=7)
    ref_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": BASE_LR * 10},
                               {"params": [torch.zeros(1, requires_grad=True)], "lr": BASE_LR}])
    expected = _trajectory(reference(ref_opt), ref_opt, 20)
    assert _trajectory(ours, ours_opt, 20) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_warmup_ramps_linearly_then_follows_the_schedule() -> None:
    optimizer = build_optimizer(_groups(), "adamw", BASE_LR, weight_decay=0.0)
    scheduler = WarmupLR(optimizer, "poly", BASE_LR, total_iters=100, warmup_iters=10, warmup_start=0.1)
    rates = _trajectory(scheduler, optimizer, 12)[1::2]
    for it in range(10):
        ramp = 0.1 + 0.9 * it / 10
        assert rates[it] == pytest.approx(BASE_LR * ramp * (1 - it / 100) ** 0.9)
    assert rates[11] == pytest.approx(BASE_LR * (1 - 11 / 100) ** 0.9)


def test_every_group_keeps_its_lr_mult() -> None:
    optimizer = build_optimizer(_groups(), "sgd", BASE_LR)
    scheduler = WarmupLR(optimizer, "cos", BASE_LR, total_iters=10)
    for _ in range(4):
        scheduler.step()
    head, backbone = scheduler.get_last_lr()
    assert head == pytest.approx(10 * backbone)
    assert backbone == pytest.approx(BASE_LR * 0.5 * (1 + math.cos(math.pi * 4 / 10)))


def test_state_dict_restores_the_rate() -> None:
    optimizer = build_optimizer(_groups(), "sgd", BASE_LR)
    scheduler = WarmupLR(optimizer, "poly", BASE_LR, total_iters=50, warmup_iters=5)
    for _ in range(13):
        scheduler.step()
    fresh_opt = build_optimizer(_groups(), "sgd", BASE_LR)
    fresh = WarmupLR(fresh_opt, "poly", BASE_LR, total_iters=50, warmup_iters=5)
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh.get_last_lr() == scheduler.get_last_lr()


def test_optimizer_choices() -> None:
    sgd = build_optimizer(_groups(), "sgd", BASE_LR, momentum=0.9, weight_decay=1e-4, nesterov=True)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"]
    assert isinstance(build_optimizer(_groups(), "adamw", BASE_LR), torch.optim.AdamW)
    with pytest.raises(UserError, match="nesterov"):
        build_optimizer(_groups(), "sgd", BASE_LR, momentum=0.0, nesterov=True)
    with pytest.raises(UserError, match="adamw"):
        build_optimizer(_groups(), "adam", BASE_LR)
    with pytest.raises(UserError, match="lr-step"):
        WarmupLR(sgd, "step", BASE_LR, total_iters=10)


def test_registries_are_the_flags_choices() -> None:
    """Optimisers and schedules are looked up by name in a registry; the flags offer exactly its names,
    and a typo gets the nearest name."""
    choices = {action.dest: action.choices for action in build_parser()._actions}
    assert choices["optimizer"] == OPTIMIZERS.names() == ["adamw", "sgd"]
    assert choices["lr_scheduler"] == SCHEDULES.names() == ["cos", "poly", "step"]
    with pytest.raises(UserError, match="did you mean 'poly'"):
        WarmupLR(build_optimizer(_groups(), "sgd", BASE_LR), "ploy", BASE_LR, total_iters=10)


def test_weight_decay_and_momentum_defaults_are_build_optimizers() -> None:
    defaults = inspect.signature(build_optimizer).parameters
    for name in ("weight_decay", "momentum"):
        assert build_parser().get_default(name) == defaults[name].default, name
