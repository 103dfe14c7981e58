"""What a training run shows: a tqdm bar per epoch, TensorBoard on rank 0, a summary at the end.

Every loss term the criterion returns is averaged and logged by name, so a new term needs no code here.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from tensorboardX import SummaryWriter
from tqdm import tqdm

from engine.run_dir import BEST_CHECKPOINT, LAST_CHECKPOINT
from utils.provenance import describe_provenance


class RunningMean:
    """Mean of each named value since the last reset (the running loss terms of an epoch)."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def update(self, values: Mapping[str, float]) -> None:
        """Add one observation of each named value."""
        for key, value in values.items():
            self._sums[key] += float(value)
            self._counts[key] += 1

    def means(self) -> dict[str, float]:
        """The mean of each name over its observations."""
        return {key: self._sums[key] / self._counts[key] for key in self._sums}


def progress_bar(iterable: Iterable, epoch: int, epochs: int, enabled: bool,
                 total: int | None = None) -> tqdm:
    """A tqdm bar for one epoch (it/s is tqdm's own rate); silent on ranks other than 0."""
    return tqdm(iterable, total=total, desc=f"epoch {epoch + 1}/{epochs}", disable=not enabled,
                dynamic_ncols=True, leave=True)


def short_terms(values: Mapping[str, float]) -> dict[str, str]:
    """Bar postfix entries: ``loss_mask`` → ``mask=0.412``, ``embed_collapse`` → ``collapse=0.310``."""
    return {key.removeprefix("loss_").removeprefix("embed_"): f"{value:.3f}" for key, value in values.items()}


class TensorBoard:
    """A tensorboardX writer that exists only on rank 0; elsewhere every call is a no-op."""

    def __init__(self, log_dir: str | Path | None) -> None:
        self.writer = SummaryWriter(str(log_dir)) if log_dir is not None else None

    def scalars(self, values: Mapping[str, float], step: int, prefix: str) -> None:
        """Log each value as ``prefix/name``."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """Log a (3, H, W) float image in [0, 1]."""
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="CHW")

    def close(self) -> None:
        """Flush and close the event file (no-op off rank 0)."""
        if self.writer is not None:
            self.writer.close()


def format_kv_table(title: str, values: Mapping[str, Any]) -> str:
    """A titled two-column text table of named values (floats at 4 decimals), for training logs; the
    metric tables of test.py are :func:`evaluation.report.format_table`."""
    width = max((len(key) for key in values), default=0)
    lines = [title, "-" * max(len(title), width + 12)]
    for key, value in values.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def format_summary(run_dir: Path, best_epoch: int | None, best_metric: float | None, metric_name: str,
                   last_metrics: Mapping[str, Any], seconds: float, skipped: int,
                   pretrained: Mapping[str, Any] | None = None) -> str:
    """The one-screen end-of-run summary: where things are, the initialisation, best epoch and metric,
    last validation."""
    rows: dict[str, Any] = {
        "run folder": str(run_dir),
        "initialisation": describe_provenance(pretrained),
        "wall time": f"{seconds / 60:.1f} min",
        "skipped non-finite steps": skipped,
    }
    if best_epoch is not None and best_metric is not None:
        rows["best epoch"] = best_epoch + 1
        rows[f"best {metric_name}"] = best_metric
        rows["best checkpoint"] = str(run_dir / BEST_CHECKPOINT)
    rows["last checkpoint"] = str(run_dir / LAST_CHECKPOINT)
    summary = format_kv_table("training summary", rows)
    if last_metrics:
        summary += "\n\n" + format_kv_table("last validation", last_metrics)
    return summary
