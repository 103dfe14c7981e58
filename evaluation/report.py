"""test.py outputs: the protocol-labelled table, metrics.json, the per-image CSV, PR/ROC plots, the
robustness table and, for images without ground truth, scores.csv. Undefined values print as
``undefined`` (never 0.5 or NaN)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Sequence

import matplotlib
import torch

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from evaluation.runner import ImageScore
from utils.metrics.functional import SCORE_NAMES, scores_from_counts

PROTOCOLS = (("fixed", "per_image"), ("fixed", "dataset"), ("best", "per_image"), ("best", "dataset"))
SCORE_COLUMNS = ("image", "image_score", "scorer", "threshold", "tampered_fraction")
TOP_SCORES = 10
ROBUST_COLUMNS = ("f1@fixed/per_image", "iou@fixed/per_image", "auc/per_image", "f1@fixed/dataset",
                  "auc/dataset", "f1_trivial/per_image")


def fmt(value: float) -> str:
    """A metric for a table: 4 decimals, or ``undefined``."""
    return "undefined" if value is None or math.isnan(value) else f"{value:.4f}"


def _header(results: dict[str, float]) -> list[str]:
    thr = results["threshold@fixed"]
    return [f"fixed {thr:g} per-image", f"fixed {thr:g} dataset", "best/img per-image (oracle)",
            "best/set dataset (oracle)"]


def format_table(results: dict[str, float]) -> str:
    """Rows: metrics; columns: threshold protocol × averaging; then AUC, detection and counts."""
    rows = [["metric", *_header(results)]]
    for metric in SCORE_NAMES:
        rows.append([metric] + [fmt(results[f"{metric}@{t}/{r}"]) for t, r in PROTOCOLS])
    rows.append(["f1 trivial (all tampered)", fmt(results["f1_trivial/per_image"]),
                 fmt(results["f1_trivial/dataset"]), "", ""])
    if "f1_inverse@fixed/per_image" in results:
        inverse = fmt(results["f1_inverse@fixed/per_image"])
        rows.append(["f1 inverse (max with complement)", inverse, "", "", ""])
    rows.append(["pixel AUC", fmt(results["auc/per_image"]),
                 f"{fmt(results['auc/dataset'])} (±{fmt(results['auc/dataset_max_error'])})", "", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"image detection: AUC {fmt(results['detection/auc'])}, balanced accuracy "
                 f"{fmt(results['detection/balanced_acc@fixed'])} (score >= {results['threshold@fixed']:g})")
    lines.append("images: {:.0f} ({:.0f} tampered, {:.0f} authentic); per-image AUC undefined for {:.0f} "
                 "(all-tampered mask {:.0f}, constant prediction {:.0f})".format(
                     *(results[k] for k in ("count/images", "count/tampered", "count/authentic",
                                            "count/auc_undefined", "count/all_tampered_gt",
                                            "count/constant_pred"))))
    return "\n".join(lines)


def write_json(results: dict[str, float], path: Path, extra: dict | None = None) -> None:
    """metrics.json: every key; NaN (undefined) written as null."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in results.items()}
    path.write_text(json.dumps({**clean, **(extra or {})}, indent=2) + "\n")


def write_per_image_csv(per_image: dict[str, list], path: Path) -> None:
    """One row per image: the raw counts and image score plus F1/P/R/IoU/MCC at both thresholds."""
    columns = dict(per_image)
    for tag in ("fixed", "best"):
        counts = torch.tensor([per_image[f"{c}@{tag}"] for c in ("tp", "fp", "fn", "tn")]).T.reshape(-1, 4)
        for name, values in scores_from_counts(counts).items():
            columns[f"{name}@{tag}"] = values.tolist()
    names = list(columns)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(columns[n] for n in names)))


def plot_curves(curves: dict[str, torch.Tensor], results: dict[str, float], out_dir: Path) -> None:
    """pr_curve.png and roc_curve.png of the pooled pixels (dataset level)."""
    specs = (("roc_curve.png", "fpr", "tpr", f"pixel ROC (dataset AUC {fmt(results['auc/dataset'])})"),
             ("pr_curve.png", "recall", "precision", f"pixel PR (best F1 {fmt(results['f1@best/dataset'])})"))
    for name, x, y, title in specs:
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.plot(curves[x].numpy(), curves[y].numpy())
        ax.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def robust_table(rows: Sequence[tuple[str, dict[str, float]]], path: Path) -> str:
    """One row per perturbation (``clean`` first), F1/AUC columns; saved as CSV, returned as text."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["perturbation", *ROBUST_COLUMNS])
        writer.writerows([label, *(results[c] for c in ROBUST_COLUMNS)] for label, results in rows)
    table = [["perturbation", *ROBUST_COLUMNS]]
    table += [[label, *(fmt(r[c]) for c in ROBUST_COLUMNS)] for label, r in rows]
    return _aligned(table)


def scores_table(scores: Sequence[ImageScore], scorer: str, threshold: float, path: Path,
                 top: int = TOP_SCORES) -> str:
    """Write scores.csv (:data:`SCORE_COLUMNS`, highest image score first); return its first ``top`` rows
    as a text table."""
    ranked = sorted(scores, key=lambda s: -s.score)
    rows = [[s.name, s.score, scorer, threshold, s.tampered_fraction] for s in ranked]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        writer.writerows(rows)
    shown = [["image", f"score ({scorer})", f"tampered area @{threshold:g}"]]
    shown += [[s.name, f"{s.score:.4f}", f"{100 * s.tampered_fraction:.1f} %"] for s in ranked[:top]]
    more = f"\n... {len(ranked) - top} more in {path}" if len(ranked) > top else ""
    return _aligned(shown) + more
