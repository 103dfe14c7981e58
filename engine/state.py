"""The training loop's settings (:class:`TrainerConfig`) and what it carries from epoch to epoch and into
its checkpoints (:class:`TrainState`, with its one conversion to and from the checkpoint's keys, and the
rule that picks the best epoch)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

TIEBREAK_METRIC = "auc"  # decides between epochs tied on --best-metric (e.g. F1@0.5 = 0 early on)


@dataclass(frozen=True)
class TrainerConfig:
    """Loop settings that are not parts (model, optimiser, loaders).

    ``metric`` is the validation key (of :func:`utils.metrics.summarize`) that picks the best
    checkpoint; ``pretrained`` is the backbone's initialisation record (``Provenance.to_dict()``),
    kept in every checkpoint and printed in the summary.
    """

    epochs: int
    eval_interval: int = 1
    max_iters: int | None = None
    max_nonfinite: int = 20
    channels_last: bool = False
    ema_decay: float = 0.0  # 0: no weight average (engine.ema)
    metric: str = "f1"
    pretrained: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainState:
    """Progress that a checkpoint carries: ``epoch`` counts completed epochs (the next one to run)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("epoch", "iteration")  # in every training checkpoint

    epoch: int = 0
    iteration: int = 0
    best_metric: float | None = None
    best_tiebreak: float | None = None
    best_epoch: int | None = None
    nonfinite: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as checkpoint keys (the checkpoint's top level holds them beside the weights)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, checkpoint: dict[str, Any]) -> "TrainState":
        """The state saved by :meth:`to_dict` in ``checkpoint``; a key an older checkpoint lacks keeps its
        default, keys of other parts are ignored."""
        return cls(**{f.name: checkpoint[f.name] for f in fields(cls) if f.name in checkpoint})

    def record_validation(self, epoch: int, metrics: dict[str, float], metric: str) -> bool:
        """Keep ``metrics`` (of 0-based ``epoch``) as the last validation; whether they are a new best by
        ``metric`` (ties broken by :data:`TIEBREAK_METRIC`)."""
        self.last_metrics = metrics
        value, tiebreak = metrics.get(metric, math.nan), metrics.get(TIEBREAK_METRIC, math.nan)
        if not is_improvement(value, tiebreak, self.best_metric, self.best_tiebreak):
            return False
        self.best_metric, self.best_tiebreak, self.best_epoch = value, tiebreak, epoch
        return True


def is_improvement(value: float, tiebreak: float, best: float | None, best_tiebreak: float | None) -> bool:
    """Whether a validation scoring ``value`` (and ``tiebreak``) beats the best so far; NaN never does,
    a tie on ``value`` is broken by a strictly higher ``tiebreak``, a full tie keeps the earlier epoch."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    if value != best:
        return value > best
    return best_tiebreak is not None and tiebreak > best_tiebreak  # NaN compares False
