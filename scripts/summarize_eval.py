"""Markdown table of test.py results (``metrics.json`` of each ``--out-dir``), one row per run:
F1@0.5 and best-threshold F1 per image and per dataset, pixel AUC, image-level AUC, the trivial F1.

    python scripts/summarize_eval.py "fine-tuned=results/casia1_test" "synthetic only=results/transfer"
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = {
    "f1@fixed/per_image": "F1@0.5 per image",
    "f1@fixed/dataset": "F1@0.5 dataset",
    "f1_trivial/per_image": "F1 trivial per image",
    "f1_trivial/dataset": "F1 trivial dataset",
    "f1@best/per_image": "F1 best thr. per image (oracle)",
    "f1@best/dataset": "F1 best thr. dataset (oracle)",
    "auc/per_image": "pixel AUC per image",
    "auc/dataset": "pixel AUC dataset",
    "detection/auc": "image-level AUC",
    "count/tampered": "tampered images",
}


def row(label: str, metrics: dict[str, float]) -> str:
    """One markdown row; a metric the run did not produce (e.g. no authentic images) shows as –."""
    def cell(key: str) -> str:
        value = metrics.get(key)
        if value is None or value != value:
            return "–"
        return str(int(value)) if key.startswith("count/") else f"{value:.3f}"
    return f"| {label} | " + " | ".join(cell(key) for key in COLUMNS) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=OUT_DIR", help="a label and a test.py --out-dir")
    args = parser.parse_args()
    lines = ["| model | " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for spec in args.runs:
        label, sep, folder = spec.rpartition("=")
        path = Path(folder) / "metrics.json"
        if not sep or not path.is_file():
            parser.error(f"'{spec}': expected LABEL=OUT_DIR with a metrics.json in OUT_DIR")
        lines.append(row(label, json.loads(path.read_text())))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
