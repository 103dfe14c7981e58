"""engine.ema: the weight average's arithmetic against a hand computation, the swap in and out of a
model, and the checkpoint keys that let a resumed run continue both the weights and the average."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.ema import WeightAverage, checkpoint_weights, resumed_average, training_weights


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_the_average_follows_the_ramped_decay() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.9)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    average.update(net)  # first update: decay min(0.9, 2/11)
    expected = 2 / 11 * start + 9 / 11 * (start + 1.0)
    torch.testing.assert_close(average.weights["0.weight"], expected)
    for _ in range(77):
        average.update(net)
    assert average.current_decay() == pytest.approx(80 / 89)  # step 79: still on the ramp
    average.update(net)
    assert average.current_decay() == 0.9  # step 80: (1+80)/(10+80) = 0.9, the ramp has ended
    assert average.weights["1.num_batches_tracked"].dtype == torch.long


def test_integer_buffers_are_copied_not_averaged() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.5)
    net.train()
    net(torch.randn(4, 3))
    net(torch.randn(4, 3))
    average.update(net)
    assert int(average.weights["1.num_batches_tracked"]) == 2
    torch.testing.assert_close(average.weights["1.running_mean"],
                               2 / 11 * torch.zeros(2) + 9 / 11 * net[1].running_mean)


def test_applied_to_swaps_the_average_in_and_restores_the_weights() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.5)
    own = {k: v.clone() for k, v in net.state_dict().items()}
    average.weights["0.bias"].fill_(7.0)
    with average.applied_to(net):
        assert torch.equal(net[0].bias, torch.full((2,), 7.0))
    assert all(torch.equal(net.state_dict()[k], own[k]) for k in own)


def test_decay_outside_the_open_unit_interval_is_refused() -> None:
    for decay in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage(_net(), decay)


def test_checkpoint_keys_round_trip() -> None:
    net = _net()
    assert set(checkpoint_weights(net, None)) == {"state_dict"}
    average = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    average.update(net)
    saved = checkpoint_weights(net, average)
    assert saved["ema_updates"] == 1 and saved["state_dict"] is average.weights
    torch.testing.assert_close(training_weights(saved)["state_dict"]["0.weight"], net[0].weight)
    ddp_named = {**saved, "state_dict": {f"module.{k}": v for k, v in saved["state_dict"].items()}}
    restored = resumed_average(_net(), 0.9, ddp_named)
    assert restored.updates == 1
    torch.testing.assert_close(restored.weights["0.weight"], average.weights["0.weight"])
    fresh = resumed_average(net, 0.9, {"state_dict": net.state_dict()})  # saved without an average
    assert fresh.updates == 0 and torch.equal(fresh.weights["0.weight"], net[0].weight)
