"""Run folders: ``<root>/<dataset>/<checkname>/experiment_<k>/`` with the run's ``args.json``.

Every invocation gets a fresh ``experiment_<k>`` (k one above the highest existing), so a rerun or a
resumed run never overwrites an earlier run's checkpoints or logs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

ARGS_FILE = "args.json"
LAST_CHECKPOINT = "checkpoint.pth.tar"
BEST_CHECKPOINT = "model_best.pth.tar"
HISTORY_FILE = "val_history.jsonl"
_EXPERIMENT = re.compile(r"experiment_(\d+)$")


def new_experiment_dir(root: str | Path, dataset: str, checkname: str) -> Path:
    """Create and return the next free ``experiment_<k>`` folder under ``root/dataset/checkname``."""
    parent = Path(root) / dataset / checkname
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in parent.iterdir() if (m := _EXPERIMENT.match(p.name))]
    k = max(taken, default=-1) + 1
    while True:  # another job may claim the same k between the scan and mkdir
        path = parent / f"experiment_{k}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


def args_to_dict(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The run's flags (destination → value, :meth:`engine.config.TrainConfig.to_flags`) as JSON-safe
    plain values sorted by name (paths and other objects become strings)."""
    return {key: value if isinstance(value, (bool, int, float, str, type(None), list)) else str(value)
            for key, value in sorted(flags.items())}


def save_args(flags: Mapping[str, Any], folder: str | Path) -> Path:
    """Write ``args.json`` (the flags, by name) into ``folder`` (what reproduces the run); returns its
    path."""
    path = Path(folder) / ARGS_FILE
    path.write_text(json.dumps(args_to_dict(flags), indent=2) + "\n")
    return path


def append_history(folder: str | Path, epoch: int, metrics: dict[str, float]) -> None:
    """Add one validation (after ``epoch`` completed epochs) to ``val_history.jsonl``: the training curve
    in a form any script can plot, no TensorBoard reader needed."""
    with open(Path(folder) / HISTORY_FILE, "a") as f:
        f.write(json.dumps({"epoch": epoch, **metrics}) + "\n")


def read_history(folder: str | Path) -> list[dict[str, float]]:
    """The validations :func:`append_history` wrote, in order."""
    path = Path(folder) / HISTORY_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
