"""Train CaCL-Net.

    python train.py                                   # quick synthetic-data run (~17 min on a 2-core CPU)
    python train.py --dataset casia2 --val-dataset casia1 --backbone resnet101 ...
    torchrun --nproc_per_node 4 train.py ...          # DDP, one process per GPU (also multi-node)
    python train.py --gpu-ids 0,1 ...                 # the same, relaunched through torchrun

Each run writes ``run/<dataset>/<checkname>/experiment_<k>/`` (checkpoints, args.json, split lists,
TensorBoard events); ``--help`` lists every flag with its default.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from dataloaders import DataConfig, make_data_loader, write_split_lists
from engine.args import parse_config
from engine.config import ModelConfig, OptimConfig, RunConfig, TrainConfig
from engine.logging import TensorBoard
from engine.optim import WarmupLR, build_optimizer
from engine.rng import seed_everything
from engine.run_dir import args_to_dict, new_experiment_dir, save_args
from engine.trainer import AMPTrainer, Trainer, TrainerConfig
from modeling import build_model
from modeling.utils import convert_sync_bn, freeze_batch_norm, param_groups, scale_dropout, unwrap
from utils.checkpoint import load_checkpoint, load_model_weights
from utils.device import resolve_device
from utils.dist import (
    DistInfo,
    cleanup_distributed,
    env_dist_info,
    init_distributed,
    relaunch,
)
from utils.errors import UserError, run_cli
from utils.losses import CaCLCriterion
from utils.metrics import PixelEvaluator
from utils.provenance import describe_provenance, file_provenance


def setup(config: TrainConfig) -> tuple[DistInfo, torch.device, Path | None]:
    """Device, process group and seed; on rank 0 also the run folder with ``args.json``."""
    run, info = config.run, env_dist_info()
    device = resolve_device(run.device, run.no_cuda, run.gpu_ids, info)
    if config.model.sync_bn and device.type != "cuda":
        raise UserError("--sync-bn needs CUDA devices (SyncBatchNorm does not run on the CPU); "
                        "use --freeze-bn for batch-independent normalisation instead")
    batch_size = config.data.batch_size
    if batch_size % info.world_size:
        raise UserError(f"--batch-size {batch_size} is not divisible by the {info.world_size} processes")
    init_distributed(device.type)
    seed_everything(run.seed + info.rank)
    run_dir = None
    if info.is_main:
        run_dir = new_experiment_dir(run.run_dir, config.data.dataset, run.checkname)
        save_args(config.to_flags(), run_dir)
    return info, device, run_dir


def build_network(model_config: ModelConfig, run: RunConfig, with_projection: bool, device: torch.device,
                  info: DistInfo) -> tuple[nn.Module, dict]:
    """The model on ``device`` (fine-tune weights, frozen or synchronised BatchNorm, DDP wrapper) and
    the record of its initialisation."""
    pretrained = "none" if run.ft else model_config.pretrained
    model = build_model(**model_config.architecture(), with_projection=with_projection, pretrained=pretrained)
    provenance = model.backbone.provenance.to_dict()
    if run.ft:
        parent = load_checkpoint(run.resume)
        load_model_weights(model, parent, run.resume, keep_fresh_projection=True)
        provenance = fine_tune_provenance(run.resume, parent)
    if info.is_main:
        print(f"initialisation: {describe_provenance(provenance)}")
    scale_dropout(model, model_config.dropout_scale)
    freeze_batch_norm(model, model_config.freeze_bn, model_config.freeze_backbone_bn)
    if model_config.sync_bn and info.distributed:
        model = convert_sync_bn(model)
    memory_format = torch.channels_last if run.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    if info.distributed:
        # some heads get no gradient in some steps (e.g. a skipped contrastive branch)
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=True)
    return model, provenance


def fine_tune_provenance(path: str, parent: dict) -> dict:
    """The initialisation record of a ``--ft`` run: the parent checkpoint, and what it started from."""
    source = f"fine-tuned from {path} (initialised from {describe_provenance(parent.get('pretrained'))})"
    return file_provenance(path, source).to_dict()


def build_loaders(data: DataConfig, no_val: bool, info: DistInfo,
                  run_dir: Path | None) -> tuple[DataLoader, DataLoader | None]:
    """Training and validation loaders (each process gets its share of the batch); split lists go to the
    run folder."""
    per_process = replace(data, batch_size=data.batch_size // info.world_size)
    train = make_data_loader(per_process, "train", distributed=info.distributed)
    val = None if no_val else make_data_loader(per_process, "val", distributed=info.distributed)
    if run_dir is not None:
        for loader in (train, val):
            if loader is not None:
                write_split_lists(loader, run_dir)
    return train, val


def build_schedule(optim: OptimConfig, model: nn.Module, per_epoch: int) -> tuple[Optimizer, WarmupLR]:
    """The optimiser over ``model``'s parameter groups and its warm-up + decay schedule (``per_epoch``
    iterations an epoch)."""
    groups = param_groups(unwrap(model), optim.lr, optim.head_lr_mult)
    optimizer = build_optimizer(groups, optim.optimizer, optim.lr, optim.momentum, optim.weight_decay,
                                optim.nesterov)
    step_epochs = optim.lr_step or max(1, optim.epochs // 3)
    scheduler = WarmupLR(optimizer, optim.lr_scheduler, optim.lr, total_iters=optim.epochs * per_epoch,
                         warmup_iters=optim.warmup_iters, step_iters=step_epochs * per_epoch)
    return optimizer, scheduler


def build_trainer(config: TrainConfig, info: DistInfo, device: torch.device, run_dir: Path | None) -> Trainer:
    """Every part of the run, from its settings; resumes or starts at ``start_epoch``."""
    optim, run = config.optim, config.run
    criterion = CaCLCriterion(config.loss)
    model, provenance = build_network(config.model, run, criterion.needs_embeddings, device, info)
    train_loader, val_loader = build_loaders(config.data, run.no_val, info, run_dir)
    per_epoch = len(train_loader)
    optimizer, scheduler = build_schedule(optim, model, per_epoch)
    trainer_config = TrainerConfig(epochs=optim.epochs, eval_interval=run.eval_interval,
                                   max_iters=optim.max_iters, max_nonfinite=optim.max_nonfinite,
                                   ema_decay=optim.ema_decay, channels_last=run.channels_last,
                                   metric=run.best_metric, pretrained=provenance)
    trainer_class = AMPTrainer if run.amp else Trainer
    trainer = trainer_class(model, criterion, optimizer, scheduler, train_loader, trainer_config, device,
                            val_loader=val_loader, evaluator=PixelEvaluator() if val_loader else None,
                            run_dir=run_dir, dist_info=info, tensorboard=TensorBoard(run_dir),
                            args=args_to_dict(config.to_flags()))
    if run.resume and not run.ft:
        trainer.resume(run.resume)
    else:
        trainer.start_at(optim.start_epoch, per_epoch)
    return trainer


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, relaunch under torchrun for ``--gpu-ids a,b``, then train."""
    config = parse_config(argv)
    gpu_ids = list(config.run.gpu_ids)
    if len(gpu_ids) > 1 and "WORLD_SIZE" not in os.environ:
        if config.run.no_cuda or not torch.cuda.is_available():
            raise UserError(f"--gpu-ids {','.join(map(str, gpu_ids))} needs CUDA GPUs; on the CPU run "
                            "torchrun --nproc_per_node N train.py --device cpu")
        raise SystemExit(relaunch(gpu_ids, __file__, sys.argv[1:] if argv is None else argv))
    info, device, run_dir = setup(config)
    try:
        build_trainer(config, info, device, run_dir).fit()
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    run_cli(main)
