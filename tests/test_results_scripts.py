"""scripts/collect_ablation.py, plot_curves.py and summarize_eval.py on hand-made run folders."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from engine.run_dir import append_history, read_history

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_run(root: Path, checkname: str, f1_per_epoch: list[float], minutes: float = 2.0,
              epochs: int | None = None) -> Path:
    folder = root / "synthetic" / checkname / "experiment_0"
    folder.mkdir(parents=True)
    (folder / "args.json").write_text(json.dumps({"epochs": epochs or len(f1_per_epoch), "max_iters": None}))
    for epoch, f1 in enumerate(f1_per_epoch, 1):
        append_history(folder, epoch, {"f1": f1, "auc": 0.5 + f1, "f1_dataset": f1 / 2, "auc_dataset": 0.6,
                                       "f1_trivial": 0.1})
    start = (folder / "args.json").stat().st_mtime
    os.utime(folder / "val_history.jsonl", (start + 60 * minutes, start + 60 * minutes))
    return folder


def test_history_round_trip(tmp_path: Path) -> None:
    folder = _fake_run(tmp_path, "full-seed0", [0.1, 0.3])
    assert [row["epoch"] for row in read_history(folder)] == [1, 2]
    assert json.loads((folder / "val_history.jsonl").read_text().splitlines()[1])["f1"] == 0.3


def test_collect_ablation_takes_the_last_epoch_and_averages_seeds(tmp_path: Path) -> None:
    collect = _script("collect_ablation")
    _fake_run(tmp_path, "full-seed0", [0.9, 0.2])
    _fake_run(tmp_path, "full-seed1", [0.1, 0.4])
    _fake_run(tmp_path, "mask-seed0", [0.05], minutes=3.0)
    _fake_run(tmp_path, "drop-seed0", [0.5], epochs=2)  # still running: left out
    rows = collect.table(collect.latest_runs(tmp_path), ["mask", "full", "drop"]).splitlines()
    assert rows[2].startswith("| mask | 0 | 0.050 | 0.550 | 0.025 | 0.600 | 0.100 | 3.0 |")
    assert rows[3].startswith("| full | 0,1 | 0.300 (0.200–0.400) | 0.800 (0.700–0.900) |")
    assert "not run" in rows[4] and rows[4].count("|") == rows[0].count("|")


def test_plot_curves_writes_a_png_and_rejects_a_folder_without_history(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, "full-seed0", [0.1, 0.2, 0.3])
    out = tmp_path / "curve.png"
    script = str(ROOT / "scripts" / "plot_curves.py")
    subprocess.run([sys.executable, script, str(run), "--label", "toy", "--out", str(out)], check=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, script, str(tmp_path), "--out", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "no val_history.jsonl in" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_summarize_eval_rows_and_missing_metrics(tmp_path: Path) -> None:
    summarize = _script("summarize_eval")
    metrics = {"f1@fixed/per_image": 0.25, "f1_trivial/per_image": 0.125, "detection/auc": float("nan"),
               "count/tampered": 3.0}
    cells = summarize.row("toy", metrics).strip("| ").split(" | ")
    assert cells[0] == "toy" and len(cells) == len(summarize.COLUMNS) + 1
    by_name = dict(zip(summarize.COLUMNS.values(), cells[1:]))
    assert by_name["F1@0.5 per image"] == "0.250" and by_name["F1 trivial per image"] == "0.125"
    assert by_name["image-level AUC"] == "–" and by_name["pixel AUC dataset"] == "–"
    assert by_name["tampered images"] == "3"
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    script = str(ROOT / "scripts" / "summarize_eval.py")
    out = subprocess.run([sys.executable, script, f"toy={tmp_path}"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[2].startswith("| toy | 0.250 |")
    bad = subprocess.run([sys.executable, script, f"toy={tmp_path / 'none'}"], capture_output=True, text=True)
    assert bad.returncode != 0 and "metrics.json" in bad.stderr and "Traceback" not in bad.stderr


def test_check_collapse_tells_a_collapsed_head_from_a_fresh_one(tmp_path: Path) -> None:
    import torch

    from modeling import build_model
    from utils.checkpoint import save_checkpoint

    check = _script("check_collapse")
    torch.manual_seed(0)
    model = build_model(backbone="mobilenet", output_stride=16)
    fresh = tmp_path / "fresh.pth.tar"
    save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, fresh)
    for head in (model.projection_t, model.projection_a):
        torch.nn.init.zeros_(head.mlp[-1].weight)  # output = bias alone: one point for every patch
        torch.nn.init.ones_(head.mlp[-1].bias)
    collapsed = tmp_path / "collapsed.pth.tar"
    save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, collapsed)
    assert check.collapse(str(collapsed), images=2, size=64) == {"train": pytest.approx(1.0),
                                                                 "eval": pytest.approx(1.0)}
    assert check.collapse(str(fresh), images=2, size=64)["train"] < 0.7
