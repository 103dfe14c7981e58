"""Score a CaCL-Net checkpoint, or run it on your own images.

    python test.py --in-path IMAGES --ckpt run/.../model_best.pth [--gt-path MASKS] [--out-dir DIR]

``--in-path``: an image, a folder (``Tp/``+``Gt/``[+``Au/``] layout, or plain images), a glob, a pair list
(text/JSON) or a dataset name with ``--split``. With ground truth: a protocol-labelled table, metrics.json,
per_image.csv and PR/ROC plots in ``--out-dir``; without it (or with ``--save-dir``): probability maps,
masks and overlays, plus scores.csv (image-level score and tampered area per image) when there is no
ground truth. ``--robust "jpeg:50,70 blur:3"`` repeats the evaluation under each perturbation.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from dataloaders import DataConfig, add_source_args
from evaluation.config import EvalConfig
from evaluation.inference import TTA_MODES, load_model
from evaluation.inputs import (
    SPLIT_FLAGS,
    EvalDataset,
    EvalSource,
    inherit_split_flags,
    names_a_dataset,
    resolve_inputs,
)
from evaluation.report import (
    format_table,
    plot_curves,
    robust_table,
    scores_table,
    write_json,
    write_per_image_csv,
)
from evaluation.robustness import parse_perturbations
from evaluation.runner import RunStats, run_pass
from utils.checkpoint import load_checkpoint
from utils.device import resolve_device
from utils.dist import DistInfo
from utils.errors import UserError, run_cli
from utils.metrics import PixelEvaluator
from utils.metrics.ranking import IMAGE_SCORES, scorer_name
from utils.provenance import describe_provenance


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """All flags: inputs and model, inference, metrics, outputs, plus the data-source flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-path", required=True,
                        help="image, folder, glob, list/JSON file or dataset name")
    parser.add_argument("--gt-path", default=EvalConfig.gt_path,
                        help="mask file (one image) or mask folder (matched by stem)")
    parser.add_argument("--split", default=EvalConfig.split, help="split of a dataset name (train/val/test)")
    parser.add_argument("--ckpt", required=True, help="checkpoint written by train.py")
    parser.add_argument("--out-dir", default="test_output", help="tables, metrics.json, CSV, plots")
    parser.add_argument("--save-dir", default=None, help="also write prob/mask/overlay PNGs here")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=EvalConfig.amp,
                        help="mixed precision (fp16 on CUDA, bf16 on CPU); off by default, so scores are float32 like train.py's validation")
    parser.add_argument("--resize", type=int, default=EvalConfig.resize,
                        help="run at RESIZE² and resize back (0 = native)")
    parser.add_argument("--tile", type=int, default=EvalConfig.tile,
                        help="native resolution: tile images larger than this")
    parser.add_argument("--tta", choices=TTA_MODES, default=EvalConfig.tta,
                        help="test-time augmentation: none; hflip (mean with the mirrored image's "
                             "mirrored-back map; twice the cost); flips (both mirrors and the double one; "
                             "four times the cost)")
    parser.add_argument("--threshold", type=float, default=EvalConfig.threshold,
                        help="fixed decision threshold")
    parser.add_argument("--bins", type=int, default=EvalConfig.bins,
                        help="histogram bins of the streaming dataset AUC")
    parser.add_argument("--image-score", choices=IMAGE_SCORES, default=EvalConfig.image_score,
                        help="image-level score: the max pixel probability, or the mean of the top "
                             "--top-percent %% (the default, chosen on CASIA v1's val split)")
    parser.add_argument("--top-percent", type=float, default=EvalConfig.top_percent,
                        help="k of --image-score topk (percent)")
    parser.add_argument("--inverse-f1", action="store_true", help="also report the 'inverse' F1 (labelled)")
    parser.add_argument("--robust", nargs="+", default=None, help="perturbations, e.g. jpeg:50,70 blur:3,5")
    add_source_args(parser)
    parser.set_defaults(**dict.fromkeys(SPLIT_FLAGS))  # None = not given: taken from the checkpoint's run
    return parser.parse_args(argv)


def eval_config(args: argparse.Namespace, checkpoint: dict) -> EvalConfig:
    """The typed settings of this evaluation. For a dataset name, unset split flags rebuild the training
    run's split (from the checkpoint's ``args``, printed) or take the defaults; ``--device auto`` becomes
    the concrete device. Bad values are one-line errors."""
    saved = (checkpoint.get("args") or {}) if names_a_dataset(args.in_path) else {}
    given = {name: getattr(args, name) for name in SPLIT_FLAGS}
    split_flags, taken = inherit_split_flags(args.in_path, given, saved)
    if taken:
        print("split flags from the checkpoint's training run: "
              + ", ".join(f"--{name.replace('_', '-')} {split_flags[name]}" for name in taken))
    flags = {**vars(args), **split_flags}
    data = DataConfig.from_flags(flags)
    device = str(resolve_device(args.device, False, [], DistInfo()))
    settings = {f.name: flags[f.name] for f in fields(EvalConfig) if f.name not in ("data", "device")}
    return EvalConfig(**settings, data=data, device=device)


def evaluate(model: torch.nn.Module, source: EvalSource, config: EvalConfig,
             perturb: Callable[[Image.Image], Image.Image] | None = None, save_dir: Path | None = None,
             desc: str = "test") -> tuple[PixelEvaluator | None, RunStats]:
    """One pass over ``source``; returns the filled evaluator (None without ground truth) and the pass's
    statistics (with each image's score when there is no ground truth)."""
    evaluator = PixelEvaluator(config.threshold, config.bins, config.image_score, config.top_percent,
                               include_authentic=False, inverse=config.inverse_f1) if source.has_gt else None
    dataset = EvalDataset(source, config.data.mask_mismatch, config.data.skip_bad, perturb)
    stats = run_pass(model, dataset, config, evaluator, save_dir, desc)
    if stats.skipped:
        print(f"skipped {len(stats.skipped)} unreadable file(s) (--skip-bad), e.g. {stats.skipped[0]}")
    if stats.predicted == 0:
        raise UserError(f"{config.in_path}: no image could be read")
    return evaluator, stats


def report(evaluator: PixelEvaluator, out_dir: Path) -> dict[str, float]:
    """Print the table and write metrics.json, per_image.csv and the PR/ROC plots."""
    results = evaluator.compute()
    print(format_table(results))
    write_json(results, out_dir / "metrics.json")
    write_per_image_csv(evaluator.per_image(), out_dir / "per_image.csv")
    plot_curves(evaluator.curves(), results, out_dir)
    print(f"wrote {out_dir}/metrics.json, per_image.csv, pr_curve.png, roc_curve.png")
    return results


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, load the checkpoint, predict every input, and report (and save) the results."""
    args = parse_args(argv)
    perturbations = parse_perturbations(args.robust) if args.robust else []
    checkpoint = load_checkpoint(args.ckpt)
    config = eval_config(args, checkpoint)
    source = resolve_inputs(config)
    if perturbations and not source.has_gt:
        raise UserError("--robust needs ground truth (a dataset, a list, a Tp/Gt folder or --gt-path)")
    model = load_model(args.ckpt, torch.device(config.device), checkpoint)
    print(f"checkpoint {args.ckpt}: backbone {checkpoint['model_config'].get('backbone')}, initialised from "
          f"{describe_provenance(checkpoint.get('pretrained'))}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_dir = Path(args.save_dir) if args.save_dir else (None if source.has_gt else out_dir)
    evaluator, stats = evaluate(model, source, config, save_dir=save_dir)
    if save_dir is not None:
        print(f"wrote probability maps, masks and overlays to {save_dir}")
    if evaluator is None:
        scorer = scorer_name(config.image_score, config.top_percent)
        print(scores_table(stats.scores, scorer, config.threshold, out_dir / "scores.csv"))
        print(f"wrote {out_dir}/scores.csv")
        return
    rows = [("clean", report(evaluator, out_dir))]
    for pert in perturbations:
        rows.append((pert.label, evaluate(model, source, config, pert.fn, desc=pert.label)[0].compute()))
    if perturbations:
        print(robust_table(rows, out_dir / "robustness.csv"))


if __name__ == "__main__":
    run_cli(main)
