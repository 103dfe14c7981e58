"""The training loop: ``Trainer.fit`` runs epochs of ``step`` and ``validate`` and saves checkpoints.

``Trainer`` is full precision; :class:`AMPTrainer` overrides only the two precision hooks (``autocast``
and ``backward_and_step``), so mixed precision is a variant of the loop, not branches inside it. The
loop is the same in one process and under DDP: collectives in :mod:`utils.dist` are
no-ops without a process group, only rank 0 logs and writes files.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, ContextManager, Iterable

import torch
from torch import nn
from tqdm import tqdm

from engine.criterion import Criterion
from engine.ema import WeightAverage, checkpoint_weights, resumed_average, training_weights
from engine.logging import (
    RunningMean, TensorBoard, format_kv_table, format_summary, progress_bar, short_terms,
)
from engine.optim import WarmupLR
from engine.rng import capture_rng, restore_rng
from engine.run_dir import BEST_CHECKPOINT, LAST_CHECKPOINT, append_history
from engine.state import TrainerConfig, TrainState
from evaluation.visualize import image_grid
from modeling.utils import is_finite_model, unwrap
from utils.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from utils.device import autocast_dtype
from utils.dist import DistInfo, all_gather_object, all_reduce, reduce_dict
from utils.errors import CheckpointError, UserError
from utils.metrics import PixelEvaluator, summarize

GRID_ROWS = 4  # validation samples in the TensorBoard image grid
BAR_STATS = ("total", "embed_collapse")  # shown in the progress bar beside the loss terms


class TrainingDiverged(UserError):
    """Too many non-finite losses, or the model itself became non-finite: the run stops."""


class Trainer:
    """Full-precision training of a CaCL-Net model (plain or DDP-wrapped) on one device per process."""

    def __init__(self, model: nn.Module, criterion: Criterion, optimizer: torch.optim.Optimizer,
                 scheduler: WarmupLR, train_loader: Iterable, config: TrainerConfig, device: torch.device,
                 val_loader: Iterable | None = None, evaluator: PixelEvaluator | None = None,
                 run_dir: Path | None = None, dist_info: DistInfo = DistInfo(),
                 tensorboard: TensorBoard | None = None, args: dict[str, Any] | None = None) -> None:
        self.model, self.module = model, unwrap(model)
        self.criterion, self.optimizer, self.scheduler = criterion, optimizer, scheduler
        self.train_loader, self.val_loader, self.evaluator = train_loader, val_loader, evaluator
        self.config, self.device, self.run_dir, self.dist = config, device, run_dir, dist_info
        self.tensorboard = tensorboard or TensorBoard(None)
        self.args = args or {}
        self.state = TrainState()
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.ema = WeightAverage(self.module, config.ema_decay) if config.ema_decay else None

    # precision hooks (overridden by AMPTrainer)
    def autocast(self) -> ContextManager:
        """The context the forward pass and the loss run in."""
        return contextlib.nullcontext()

    def backward_and_step(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` and update the weights."""
        loss.backward()
        self.optimizer.step()

    def scaler_state(self) -> dict[str, Any] | None:
        """The loss scaler's state for the checkpoint (None: full precision has no scaler)."""
        return None

    def load_scaler_state(self, state: dict[str, Any] | None) -> None:
        """Full precision has no loss scaler; nothing to restore."""

    # the loop
    def fit(self) -> TrainState:
        """Train from ``state.epoch`` to ``config.epochs``; validate, save, and print a summary."""
        start = time.time()
        try:
            for epoch in range(self.state.epoch, self.config.epochs):
                self.train_epoch(epoch)
                self.state.epoch = epoch + 1
                stop = self._reached_max_iters()
                metrics = self.validate() if self._validation_due(epoch, stop) else None
                self.save(epoch, metrics)
                if stop:
                    break
        finally:
            self.tensorboard.close()
        if self.dist.is_main and self.run_dir is not None:
            tqdm.write(format_summary(self.run_dir, self.state.best_epoch, self.state.best_metric,
                                      self.config.metric, self.state.last_metrics, time.time() - start,
                                      self.state.nonfinite, self.config.pretrained))
        return self.state

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training loader; returns the epoch's mean loss terms."""
        self.model.train()
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # DistributedSampler: a new, seeded shuffle each epoch
        running = RunningMean()
        bar = progress_bar(self.train_loader, epoch, self.config.epochs, self.dist.is_main)
        for batch in bar:
            if self._reached_max_iters():
                break
            lr = self.scheduler.get_last_lr()[0]  # the backbone rate this step uses
            values = self.step(batch)
            if values is not None:
                running.update(values)
                bar.set_postfix(short_terms({k: v for k, v in running.means().items()
                                             if k in BAR_STATS or k.startswith("loss_")}), refresh=False)
                self.tensorboard.scalars({**values, "lr": lr}, self.state.iteration, "train")
        bar.close()
        return running.means()

    def step(self, batch: dict[str, Any]) -> dict[str, float] | None:
        """One optimisation step; returns the loss terms averaged over ranks, or None when skipped."""
        image, mask = self._inputs(batch)
        criterion = self.criterion.for_iteration(self.state.iteration)
        with self.autocast():
            outputs = self.model(image, criterion.patch_selector(mask), embed=criterion.needs_embeddings)
            losses = criterion(outputs, mask)
        finite = torch.isfinite(losses["total"].detach()).float().reshape(1)
        self.optimizer.zero_grad(set_to_none=True)
        if all_reduce(finite, "min").item() == 1.0:  # every rank skips together, or none does
            self.backward_and_step(losses["total"])
            if self.ema is not None:
                self.ema.update(self.module)
            detached = {k: v.detach() for k, v in losses.items()}
            values: dict[str, float] | None = {k: float(v) for k, v in reduce_dict(detached).items()}
        else:
            self._skip_nonfinite()
            values = None
        self.scheduler.step()
        self.state.iteration += 1
        return values

    def _skip_nonfinite(self) -> None:
        """Count a skipped step; stop when the model is damaged or the threshold is reached."""
        self.state.nonfinite += 1
        where = f"epoch {self.state.epoch + 1}, iteration {self.state.iteration + 1}"
        last_good = f"; last good checkpoint: {self.run_dir / LAST_CHECKPOINT}" if self.run_dir else ""
        if not is_finite_model(self.module):
            raise TrainingDiverged(f"the model's weights or BatchNorm statistics became non-finite at "
                                   f"{where}; lower --lr or check the data{last_good}")
        if self.state.nonfinite >= self.config.max_nonfinite:
            raise TrainingDiverged(f"{self.state.nonfinite} steps had a non-finite loss (last at {where}); "
                                   f"lower --lr, check the data or drop --amp{last_good}")
        if self.dist.is_main:
            tqdm.write(f"warning: non-finite loss at {where}: step skipped "
                       f"({self.state.nonfinite}/{self.config.max_nonfinite})")

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Score the validation set (each image on exactly one rank, merged) and log F1/AUC/IoU.

        Runs in full precision even under :class:`AMPTrainer`: AUC and threshold-free scores need
        probabilities finer than bfloat16's 8-bit mantissa; scores the weight average with ``--ema-decay``.
        """
        if self.val_loader is None or self.evaluator is None:
            return {}
        with self.ema.applied_to(self.module) if self.ema else contextlib.nullcontext():
            return self._score_validation()

    def _score_validation(self) -> dict[str, float]:
        self.model.eval()
        self.evaluator.reset()
        grid = None
        for batch in tqdm(self.val_loader, desc="validate", disable=not self.dist.is_main, leave=False):
            image, mask = self._inputs(batch)
            outputs = self.module(image, embed=False)  # full precision: bf16 would quantise probabilities
            prob = outputs["mask"].float().sigmoid()
            self.evaluator.process(prob, mask)
            if grid is None and self.dist.is_main:
                rows = slice(0, GRID_ROWS)
                grid = image_grid(batch["image"][rows], batch["mask"][rows], prob[rows],
                                  outputs["contour"][rows].float().sigmoid())
        self.evaluator.all_reduce()
        results = self.evaluator.compute()
        metrics = {**summarize(results), "images": int(results["count/images"])}  # all ranks together
        self.tensorboard.scalars(metrics, self.state.epoch, "val")
        if grid is not None:
            self.tensorboard.image("val/input_gt_pred_contour", grid, self.state.epoch)
        if self.dist.is_main:
            tqdm.write(format_kv_table(f"validation after epoch {self.state.epoch}", metrics))
            if self.run_dir is not None:
                append_history(self.run_dir, self.state.epoch, metrics)
        return metrics

    def _inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        image = batch["image"].to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return image, batch["mask"].to(self.device, non_blocking=True)

    def _validation_due(self, epoch: int, stopping: bool) -> bool:
        last = epoch + 1 == self.config.epochs or stopping
        return self.val_loader is not None and ((epoch + 1) % self.config.eval_interval == 0 or last)

    def _reached_max_iters(self) -> bool:
        return self.config.max_iters is not None and self.state.iteration >= self.config.max_iters

    # checkpoints
    def save(self, epoch: int, metrics: dict[str, float] | None) -> None:
        """Write ``checkpoint.pth.tar`` (and ``model_best.pth.tar`` on a new best); rank 0 only.

        Refuses to write a model with non-finite weights, so no checkpoint ever holds NaN.
        """
        is_best = metrics is not None and self.state.record_validation(epoch, metrics, self.config.metric)
        rng = all_gather_object(capture_rng())  # collective: every rank takes part
        finite = torch.tensor([float(is_finite_model(self.module))], device=self.device)
        if all_reduce(finite, "min").item() != 1.0:  # collective: every rank raises together
            last_good = f" (last good checkpoint: {self.run_dir / LAST_CHECKPOINT})" if self.run_dir else ""
            raise TrainingDiverged(f"the model is non-finite after epoch {epoch + 1}; "
                                   f"not saving it{last_good}")
        if not self.dist.is_main or self.run_dir is None:
            return
        state = self.checkpoint_state(rng)
        save_checkpoint(state, self.run_dir / LAST_CHECKPOINT)
        if is_best:
            save_checkpoint(state, self.run_dir / BEST_CHECKPOINT)

    def checkpoint_state(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything :meth:`resume` needs, in the :mod:`utils.checkpoint` format (``rng``: one per rank)."""
        return {
            "model_config": self.module.config,
            **checkpoint_weights(self.module, self.ema),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler_state(),
            **self.state.to_dict(),
            "rng": rng,
            "args": self.args,
            "pretrained": self.config.pretrained,
        }

    def start_at(self, epoch: int, iterations_per_epoch: int) -> None:
        """Begin a fresh run at ``epoch`` with the schedule advanced to match (``--start_epoch``)."""
        self.state = TrainState(epoch=epoch, iteration=epoch * iterations_per_epoch)
        self.scheduler.load_state_dict({"iteration": self.state.iteration})

    def resume(self, path: str | Path) -> None:
        """Continue exactly where the checkpoint at ``path`` stopped (weights, optimiser, schedule, RNG)."""
        state = load_checkpoint(path)  # on the CPU; load_state_dict moves tensors to the model's device
        for key in ("optimizer", "scheduler", *TrainState.REQUIRED, "rng"):
            if key not in state:
                raise CheckpointError(f"{path}: has no '{key}': not a training checkpoint "
                                      "(use --ft to load its weights only)")
        load_model_weights(self.module, training_weights(state), path)
        if self.ema is not None:
            self.ema = resumed_average(self.module, self.config.ema_decay, state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.load_scaler_state(state.get("scaler"))
        self.state = TrainState.from_dict(state)
        rng = state["rng"]
        restore_rng(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])


class AMPTrainer(Trainer):
    """Mixed precision: float16 autocast with a GradScaler on CUDA, bfloat16 autocast (no scaler)
    elsewhere."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        on_cuda = self.device.type == "cuda"
        self.dtype = autocast_dtype(self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=on_cuda)

    def autocast(self) -> ContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)  # skips the update when the scaled gradients overflowed
        self.scaler.update()

    def scaler_state(self) -> dict[str, Any] | None:
        """The GradScaler's state on CUDA; None with bfloat16, which needs no scaler."""
        return self.scaler.state_dict() if self.scaler.is_enabled() else None

    def load_scaler_state(self, state: dict[str, Any] | None) -> None:
        if state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state)
