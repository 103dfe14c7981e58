"""Plot training curves (validation F1@0.5 and AUC per epoch) from train.py's ``val_history.jsonl``.

    python scripts/plot_curves.py run/list/casia1-ft/experiment_0 --label "CASIA v1 fine-tuning" \
        --out docs/images/casia1_curve.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.run_dir import HISTORY_FILE, read_history  # noqa: E402

PANELS = (("f1", "F1@0.5 per image"), ("auc", "pixel AUC per image"))


def plot(runs: list[Path], labels: list[str], out: Path) -> None:
    """One panel per metric, one line per run; the trivial all-tampered F1 dashed on the F1 panel."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(10, 3.6))
    for run, label in zip(runs, labels):
        history = read_history(run)
        epochs = [row["epoch"] for row in history]
        for ax, (key, _) in zip(axes, PANELS):
            line, = ax.plot(epochs, [row[key] for row in history], marker="o", label=label)
            if key == "f1":
                ax.plot(epochs, [row["f1_trivial"] for row in history], ls="--", color=line.get_color(),
                        alpha=0.6, label=f"{label}: trivial F1")
    for ax, (_, title) in zip(axes, PANELS):
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="experiment folders with val_history.jsonl")
    parser.add_argument("--label", action="append", help="legend entry per run (default: folder path)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    missing = [str(run) for run in args.runs if not (run / HISTORY_FILE).is_file()]
    if missing:
        parser.error(f"no {HISTORY_FILE} in {', '.join(missing)} (a run of train.py with validation)")
    labels = args.label or [str(run) for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(labels)} --label values")
    plot(args.runs, labels, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
