"""Do a checkpoint's contrastive terms do anything? Each branch's InfoNCE next to its collapse value and label
floor (utils/losses/diagnostics.py), on validation batches, with the patches sampled as in training.

The model runs in eval mode with its projection heads; the run's own criterion (temperature, sample size,
contour patches, scope, from the checkpoint's training arguments) picks the patches and the model projects
only those, as in a training step. ``--batches`` batches are drawn at random (``--seed``) from ``--split``
of the data flags' dataset (train.py's flags); per-branch values are means over the batches where the
branch's loss is defined. Prints a markdown table; ``--out`` writes everything as JSON.

    python scripts/contrast_diagnostics.py \\
        --ckpt run/synthetic/cacl-mobilenet/experiment_0/checkpoint.pth.tar \\
        --dataset synthetic --split val --batches 4 --out diag.json
    python scripts/contrast_diagnostics.py --ckpt CKPT --val-list splits/casia1_source_disjoint/val.txt \\
        --data-root /data/CASIA1 --base-size 256 --test-batch-size 8
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from statistics import mean
from typing import Any

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataloaders import DataConfig, add_data_args, build_dataset  # noqa: E402
from modeling import DeepLab, build_model  # noqa: E402
from utils.checkpoint import load_checkpoint, load_model_weights, saved_model_config  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.losses import CaCLCriterion, LossConfig  # noqa: E402
from utils.losses.contrastive import branch_rows  # noqa: E402
from utils.losses.diagnostics import branch_diagnostics  # noqa: E402

BRANCHES = ("T", "A")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The checkpoint, how many batches of which split, the output file, and train.py's data flags."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint written by train.py, with projection heads")
    parser.add_argument("--split", default="val", help="split of --dataset (or --val-list for val)")
    parser.add_argument("--batches", type=int, default=4, help="batches to measure")
    parser.add_argument("--seed", type=int, default=0, help="seeds the batch order and the patch sampling")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    add_data_args(parser)
    args = parser.parse_args(argv)
    if args.batches < 1:
        raise UserError(f"--batches must be >= 1, got {args.batches}")
    return args


def load_with_heads(path: str, state: dict[str, Any], device: torch.device) -> DeepLab:
    """The checkpoint's model with its projection heads, in eval mode."""
    if not any(key.startswith("projection_t.") for key in state["state_dict"]):
        raise UserError(f"{path}: the checkpoint has no projection heads (trained without contrastive terms)")
    model = build_model(**{**saved_model_config(state), "with_projection": True}, pretrained="none")
    load_model_weights(model, state, path)
    return model.to(device).eval()


def run_criterion(state: dict[str, Any]) -> CaCLCriterion:
    """The training run's criterion settings (defaults where the checkpoint lacks them), with both
    contrastive terms on: only their unweighted values are reported."""
    saved = state.get("args") or {}
    settings = {f.name: saved[f.name] for f in fields(LossConfig) if saved.get(f.name) is not None}
    return CaCLCriterion(LossConfig(**{**settings, "lambda_contrast": 1.0, "lambda_pivot": 1.0}))


@torch.no_grad()
def measure_batch(model: DeepLab, criterion: CaCLCriterion, image: torch.Tensor, mask: torch.Tensor
                  ) -> dict[str, Any]:
    """One batch: each branch's :func:`branch_diagnostics` (None where undefined), the criterion's
    ``L_ncl`` and pivot-consistency term, and its sample counts."""
    outputs = model(image, criterion.patch_selector(mask))
    losses = criterion(outputs, mask)
    rows = branch_rows(outputs["embed_t"], outputs["embed_a"], outputs["patches"])
    result: dict[str, Any] = {name: branch_diagnostics(z, positive, criterion.temperature)
                              for name, (z, positive) in rows.items()}
    keys = ("loss_contrast", "loss_pivot", "n_tampered", "n_authentic", "n_contour", "embed_collapse")
    result.update({key: losses[key].item() for key in keys if key in losses})
    return result


def summarise(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the batches: per branch over those where it is defined (``batches`` counts them), the
    rest over all batches."""
    summary: dict[str, Any] = {}
    for name in BRANCHES:
        defined = [batch[name] for batch in batches if batch[name] is not None]
        summary[name] = {key: mean(b[key] for b in defined) for key in defined[0]} if defined else {}
        summary[name]["batches"] = len(defined)
    for key in {key for batch in batches for key in batch} - set(BRANCHES):
        summary[key] = mean(batch[key] for batch in batches if key in batch)
    return summary


def markdown_table(summary: dict[str, Any]) -> str:
    """The per-branch table and a line with the pivot-consistency term."""
    lines = ["| branch | InfoNCE | collapse log(N−1) | label floor | progress | N (pos / neg) | "
             "class angle (°) | embed_collapse |", "|---|---|---|---|---|---|---|---|"]
    for name in BRANCHES:
        row = summary[name]
        if row["batches"] == 0:
            lines.append(f"| {name} | undefined | | | | | | |")
            continue
        counts = f"{row['n']:.0f} ({row['n_positive']:.0f} / {row['n_negative']:.0f})"
        lines.append(f"| {name} | {row['loss']:.3f} | {row['collapse_value']:.3f} | {row['label_floor']:.3f} "
                     f"| {row['progress']:.3f} | {counts} | {row['class_angle']:.1f} "
                     f"| {row['embed_collapse']:.3f} |")
    lines.append(f"\npivot consistency L_pc: {summary.get('loss_pivot', float('nan')):.4f}")
    return "\n".join(lines)


def diagnose(args: argparse.Namespace) -> dict[str, Any]:
    """Measure ``--batches`` batches; the JSON's content (settings, means, every batch)."""
    device = torch.device(args.device)
    state = load_checkpoint(args.ckpt)
    model, criterion = load_with_heads(args.ckpt, state, device), run_criterion(state)
    torch.manual_seed(args.seed)
    data = DataConfig.from_flags(vars(args))
    loader = DataLoader(build_dataset(data, args.split), batch_size=data.eval_batch_size,
                        shuffle=True, num_workers=data.workers,
                        generator=torch.Generator().manual_seed(args.seed))
    batches, shape = [], None
    for batch in loader:
        shape = list(batch["image"].shape)
        batches.append(measure_batch(model, criterion, batch["image"].to(device), batch["mask"].to(device)))
        if len(batches) == args.batches:
            break
    return {"checkpoint": args.ckpt, "epoch": state.get("epoch"), "split": args.split,
            "temperature": criterion.temperature, "num_anchors": criterion.num_anchors, "batch_shape": shape,
            "summary": summarise(batches), "per_batch": batches}


def main(argv: list[str] | None = None) -> None:
    """Print the table of :func:`diagnose` and write ``--out``."""
    args = parse_args(argv)
    result = diagnose(args)
    print(f"{args.ckpt} (epoch {result['epoch']}): {len(result['per_batch'])} {args.split} batches of "
          f"{result['batch_shape']}, τ {result['temperature']}")
    print(markdown_table(result["summary"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")

if __name__ == "__main__":
    run_cli(main)
