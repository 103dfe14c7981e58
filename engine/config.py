"""A training run's settings as typed, frozen values, built once from train.py's flags
(:func:`engine.args.train_config`) and handed to the parts of the run.

- :class:`ModelConfig`: the network and its initialisation;
- :class:`OptimConfig`: epochs, optimiser and learning-rate schedule, stopping rules;
- :class:`RunConfig`: device, precision, seed, run folder, resuming, validation;
- :class:`TrainConfig`: those plus the data (:class:`dataloaders.config.DataConfig`) and loss
  (:class:`utils.losses.config.LossConfig`) settings.

The field defaults are the flags' defaults (:mod:`engine.args` reads them); the network's stride and
embedding width and the optimiser's momentum and weight decay default to those of :func:`modeling.build_model`
and :func:`engine.optim.build_optimizer`, so each default lives in one place.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

from dataloaders.config import DataConfig
from engine.optim import build_optimizer
from modeling import CONTOUR_HIDDEN_KERNELS, build_model
from modeling.utils import param_groups
from utils.device import TRAIN_AMP_DEFAULT
from utils.errors import require
from utils.losses.config import LossConfig
from utils.metrics.protocols import SUMMARY_KEYS

BEST_METRICS = tuple(sorted(set(SUMMARY_KEYS) - {"f1_trivial"}))  # higher is better


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    """Keyword defaults of ``function``."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


_MODEL = _defaults(build_model)
_OPTIMIZER = _defaults(build_optimizer)
_GROUPS = _defaults(param_groups)


@dataclass(frozen=True)
class ModelConfig:
    """The network, its backbone initialisation (``auto``, ``none``, ``imagenet`` or a file) and its
    normalisation and dropout."""

    backbone: str = "mobilenet"
    out_stride: int = _MODEL["output_stride"]
    embed_dim: int = _MODEL["embed_dim"]
    pretrained: str = "auto"
    separable: bool = True  # the quick CPU run's choice; build_model's own default is DeepLabv3+'s standard
    contour_hidden: int = _MODEL["contour_hidden"]
    contour_hidden_kernel: int = 1  # the CPU recipe's choice (docs/RESULTS.md); build_model's is METHOD's 3
    sync_bn: bool = False
    freeze_bn: bool = False
    freeze_backbone_bn: bool = False
    dropout_scale: float = 0.0  # the quick run's choice (fresh synthetic data every epoch); 1 = DeepLabv3+

    def __post_init__(self) -> None:
        require(self.dropout_scale >= 0, f"dropout_scale must be >= 0, got {self.dropout_scale}")
        require(self.contour_hidden >= 0, f"contour_hidden must be >= 0, got {self.contour_hidden}")
        require(self.contour_hidden_kernel in CONTOUR_HIDDEN_KERNELS,
                f"contour_hidden_kernel must be one of {CONTOUR_HIDDEN_KERNELS}, "
                f"got {self.contour_hidden_kernel}")
        for frozen in ("freeze_bn", "freeze_backbone_bn"):
            require(not (getattr(self, frozen) and self.sync_bn),
                    f"{frozen} and sync_bn exclude each other: frozen BatchNorm has no batch statistics to "
                    "synchronise")

    def architecture(self) -> dict[str, Any]:
        """The :func:`modeling.build_model` arguments that shape the network (what a checkpoint's
        ``model_config`` records, less the projection heads)."""
        return {"backbone": self.backbone, "output_stride": self.out_stride, "embed_dim": self.embed_dim,
                "separable": self.separable, "contour_hidden": self.contour_hidden,
                "contour_hidden_kernel": self.contour_hidden_kernel}


@dataclass(frozen=True)
class OptimConfig:
    """Epochs, optimiser, learning rates (``lr`` for the backbone, ``head_lr_mult`` times it for the rest),
    schedule (``lr_step`` None: a third of the epochs), when to stop early (``max_iters`` in all;
    ``max_nonfinite`` skipped steps) and the weight average (``ema_decay``, :mod:`engine.ema`)."""

    epochs: int = 10
    start_epoch: int = 0
    optimizer: str = "adamw"
    lr: float = 1e-3
    head_lr_mult: float = _GROUPS["head_lr_mult"]
    lr_scheduler: str = "poly"
    lr_step: Optional[int] = None
    warmup_iters: int = 50
    momentum: float = _OPTIMIZER["momentum"]
    weight_decay: float = _OPTIMIZER["weight_decay"]
    nesterov: bool = False
    max_iters: Optional[int] = None
    max_nonfinite: int = 20
    ema_decay: float = 0.0  # 0: validate and save the optimised weights themselves

    def __post_init__(self) -> None:
        for name in ("epochs", "max_nonfinite"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, got {value}")
        require(self.head_lr_mult > 0, f"head_lr_mult must be > 0, got {self.head_lr_mult}")
        require(0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        require(self.max_iters is None or self.max_iters >= 0,
                f"max_iters must be >= 0, got {self.max_iters}")


@dataclass(frozen=True)
class RunConfig:
    """Where and how the run executes, what it resumes from, and how it validates."""

    device: str = "auto"
    no_cuda: bool = False
    gpu_ids: tuple[int, ...] = ()
    amp: bool = TRAIN_AMP_DEFAULT
    channels_last: bool = True
    seed: int = 1
    run_dir: str = "run"
    checkname: Optional[str] = None  # train_config fills cacl-<backbone>
    resume: Optional[str] = None
    ft: bool = False
    eval_interval: int = 1
    no_val: bool = False
    best_metric: str = "f1"

    def __post_init__(self) -> None:
        require(self.eval_interval >= 1, f"eval_interval must be >= 1, got {self.eval_interval}")
        require(not self.ft or bool(self.resume),
                "ft needs resume (the checkpoint whose weights to fine-tune)")
        require(self.best_metric in BEST_METRICS,
                f"best_metric must be one of {', '.join(BEST_METRICS)}, got '{self.best_metric}'")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run reads."""

    data: DataConfig
    model: ModelConfig
    loss: LossConfig
    optim: OptimConfig
    run: RunConfig

    def to_flags(self) -> dict[str, Any]:
        """Flag destination → value, as parsed (what ``args.json`` and the checkpoint's ``args`` hold;
        test.py reads the split flags back from them)."""
        run = {**asdict(self.run), "gpu_ids": list(self.run.gpu_ids)}
        parts = (self.data.to_flags(), asdict(self.model), asdict(self.loss), asdict(self.optim), run)
        return {name: value for part in parts for name, value in part.items()}
