"""utils/losses/diagnostics.py against hand values and configurations that realise them exactly, and
scripts/contrast_diagnostics.py end to end on a tiny random checkpoint."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

from modeling import build_model
from utils.checkpoint import save_checkpoint
from utils.losses.contrastive import supcon_loss
from utils.losses.diagnostics import branch_diagnostics, class_angle, collapse_value, label_floor

ROOT = Path(__file__).resolve().parents[1]
LABELS = torch.tensor([1, 1, 1, 0, 0])  # 3 positives, 2 negatives


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _label_floor_embeddings(labels: torch.Tensor) -> torch.Tensor:
    """Same label at one point, the two labels antipodal."""
    return torch.tensor([[1.0, 0.0, 0.0]]) * (2 * labels[:, None].double() - 1)


def test_label_floor_by_hand() -> None:
    tau = 0.5
    e = math.exp(-2 / tau)
    positive_anchor = math.log(2 + 2 * e)  # 2 same-label others, 2 of the other label
    negative_anchor = math.log(1 + 3 * e)
    expected = (3 * positive_anchor + 2 * negative_anchor) / 5
    assert label_floor(LABELS, tau) == pytest.approx(expected)


@pytest.mark.parametrize("tau", [0.07, 0.1, 0.5, 1.0])
def test_supcon_equals_label_floor_at_its_configuration(tau: float) -> None:
    z = _label_floor_embeddings(LABELS)
    assert supcon_loss(z, LABELS, tau).item() == pytest.approx(label_floor(LABELS, tau), rel=1e-9)


def test_supcon_equals_collapse_value_for_identical_embeddings() -> None:
    z = torch.nn.functional.normalize(torch.ones(7, 4, dtype=torch.float64), dim=1)
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    assert supcon_loss(z, labels, 0.1).item() == pytest.approx(collapse_value(7)) == pytest.approx(math.log(6))


def test_class_angle() -> None:
    labels = torch.tensor([1, 1, 0, 0])
    orthogonal = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert class_angle(orthogonal, labels) == pytest.approx(90.0)
    assert class_angle(_label_floor_embeddings(labels).float(), labels) == pytest.approx(180.0)
    spread = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # equal class means
    assert class_angle(spread, labels) == pytest.approx(0.0, abs=1e-4)


def test_branch_diagnostics_at_the_two_references() -> None:
    floor = branch_diagnostics(_label_floor_embeddings(LABELS), LABELS, 0.1)
    assert floor["progress"] == pytest.approx(1.0)
    assert (floor["n"], floor["n_positive"], floor["n_negative"]) == (5, 3, 2)
    assert floor["class_angle"] == pytest.approx(180.0)
    assert floor["embed_collapse"] == pytest.approx(0.2)  # (3 − 2) / 5
    collapsed = branch_diagnostics(torch.ones(5, 1, dtype=torch.float64), LABELS, 0.1)
    assert collapsed["progress"] == pytest.approx(0.0, abs=1e-9)
    assert collapsed["embed_collapse"] == pytest.approx(1.0)
    assert branch_diagnostics(torch.ones(5, 1), torch.tensor([1, 0, 0, 0, 0]), 0.1) is None


def test_script_end_to_end_on_a_tiny_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet", 16, 32, True, "none")
    ckpt, out = tmp_path / "checkpoint.pth.tar", tmp_path / "diag.json"
    save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, ckpt)
    _script("contrast_diagnostics").main([
        "--ckpt", str(ckpt), "--dataset", "synthetic", "--split", "val", "--batches", "1", "--crop-size", "64",
        "--base-size", "64", "--batch-size", "2", "--workers", "0", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["batch_shape"] == [2, 3, 64, 64]
    for branch in ("T", "A"):
        row = result["summary"][branch]
        assert row["batches"] == 1
        assert all(math.isfinite(value) for value in row.values())
        assert row["label_floor"] < row["collapse_value"]
    assert math.isfinite(result["summary"]["loss_pivot"])
    assert "| T |" in capsys.readouterr().out
