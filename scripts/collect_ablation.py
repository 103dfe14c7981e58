"""Collect an ablation (scripts/ablation.sh) into a markdown table: the last validation of each
variant's runs, the mean over seeds with the spread (min–max), and each seed's value.

    python scripts/collect_ablation.py run/ablation/synthetic --variants mask contour contrast full drop image
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.run_dir import ARGS_FILE, HISTORY_FILE, read_history  # noqa: E402

COLUMNS = {"f1": "F1@0.5 per image", "auc": "AUC per image", "f1_dataset": "F1@0.5 dataset",
           "auc_dataset": "AUC dataset"}
VARIANTS = ("mask", "contour", "contrast", "full", "drop", "image")  # scripts/ablation.sh's, in order
_SEED = re.compile(r"^(?P<variant>.+)-seed(?P<seed>\d+)$")


def finished(folder: Path) -> bool:
    """Whether the run validated after its last epoch (a ``--max-iters`` run: after it stopped)."""
    args = json.loads((folder / ARGS_FILE).read_text())
    return args.get("max_iters") is not None or read_history(folder)[-1]["epoch"] >= args.get("epochs", 0)


def latest_runs(root: Path) -> dict[str, dict[int, Path]]:
    """``{variant: {seed: newest finished experiment folder}}`` under ``root``."""
    runs: dict[str, dict[int, Path]] = {}
    for history in sorted(root.glob(f"*/*/experiment_*/{HISTORY_FILE}"), key=lambda p: p.stat().st_mtime):
        match = _SEED.match(history.parent.parent.name)
        if match and finished(history.parent):
            runs.setdefault(match["variant"], {})[int(match["seed"])] = history.parent
    return runs


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def table(runs: dict[str, dict[int, Path]], variants: list[str]) -> str:
    """One markdown row per variant (in ``variants`` order): metrics, trivial F1, minutes per run."""
    header = ["variant", "seeds", *COLUMNS.values(), "F1 trivial", "minutes per run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in variants:
        folders = runs.get(variant, {})
        if not folders:
            lines.append(f"| {variant} | – | not run |" + " |" * (len(header) - 3))
            continue
        last = {seed: read_history(folder)[-1] for seed, folder in sorted(folders.items())}
        minutes = [(f / HISTORY_FILE).stat().st_mtime - (f / ARGS_FILE).stat().st_mtime
                   for f in folders.values()]
        cells = [_cell([row[key] for row in last.values()]) for key in COLUMNS]
        trivial = _cell([row["f1_trivial"] for row in last.values()])
        seeds = ",".join(str(s) for s in last)
        lines.append(f"| {variant} | {seeds} | " + " | ".join(cells)
                     + f" | {trivial} | {statistics.mean(minutes) / 60:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the ablation's --run-dir")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="rows, in this order")
    args = parser.parse_args()
    print(table(latest_runs(args.root), args.variants))


if __name__ == "__main__":
    main()
