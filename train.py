"""Train CaCL-Net.

    python train.py                                   # quick synthetic-data run (~17 min on a 2-core CPU)
    python train.py --dataset casia2 --val-dataset casia1 --backbone resnet101 ...
    torchrun --nproc_per_node 4 train.py ...          # DDP, one process per GPU (also multi-node)
    python train.py --gpu-ids 0,1 ...                 # the same, relaunched through torchrun

Each run writes ``run/<dataset>/<checkname>/experiment_<k>/`` (checkpoints, args.json, split lists,
TensorBoard events); ``--help`` lists every flag with its default.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from dataloaders import DataConfig, make_data_loader, write_split_lists
from engine.args import parse_args
from engine.logging import TensorBoard
from engine.optim import WarmupLR, build_optimizer
from engine.rng import seed_everything
from engine.run_dir import args_to_dict, new_experiment_dir, save_args
from engine.trainer import AMPTrainer, Trainer, TrainerConfig, unwrap
from modeling import build_model
from modeling.utils import convert_sync_bn, freeze_bn, param_groups, scale_dropout
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
from utils.losses import CaCLCriterion, LossConfig
from utils.metrics import PixelEvaluator
from utils.provenance import describe_provenance, file_provenance


def setup(args: argparse.Namespace) -> tuple[DistInfo, torch.device, Path | None]:
    """Device, process group and seed; on rank 0 also the run folder with ``args.json``."""
    info = env_dist_info()
    device = resolve_device(args.device, args.no_cuda, args.gpu_ids, info)
    if args.sync_bn and device.type != "cuda":
        raise UserError("--sync-bn needs CUDA devices (SyncBatchNorm does not run on the CPU); "
                        "use --freeze-bn for batch-independent normalisation instead")
    if args.batch_size % info.world_size:
        raise UserError(f"--batch-size {args.batch_size} is not divisible by the {info.world_size} processes")
    init_distributed(device.type)
    seed_everything(args.seed + info.rank)
    run_dir = None
    if info.is_main:
        run_dir = new_experiment_dir(args.run_dir, args.dataset, args.checkname)
        save_args(args, run_dir)
    return info, device, run_dir


def build_network(args: argparse.Namespace, with_projection: bool, device: torch.device,
                  info: DistInfo) -> tuple[nn.Module, dict]:
    """The model on ``device`` (fine-tune weights, frozen or synchronised BatchNorm, DDP wrapper) and
    the record of its initialisation."""
    model = build_model(args.backbone, args.out_stride, args.embed_dim, with_projection,
                        "none" if args.ft else args.pretrained)
    provenance = model.backbone.provenance.to_dict()
    if args.ft:
        parent = load_checkpoint(args.resume)
        load_model_weights(model, parent, args.resume, keep_fresh_projection=True)
        provenance = fine_tune_provenance(args.resume, parent)
    if info.is_main:
        print(f"initialisation: {describe_provenance(provenance)}")
    scale_dropout(model, args.dropout_scale)
    if args.freeze_bn:
        freeze_bn(model)
    if args.sync_bn and info.distributed:
        model = convert_sync_bn(model)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
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
    val = None if no_val else make_data_loader(per_process, "val", name=data.val_dataset,
                                               distributed=info.distributed)
    if run_dir is not None:
        for loader in (train, val):
            if loader is not None:
                write_split_lists(loader, run_dir)
    return train, val


def build_trainer(args: argparse.Namespace, info: DistInfo, device: torch.device,
                  run_dir: Path | None) -> Trainer:
    """Every part of the run, from the flags; resumes or starts at ``--start_epoch``."""
    criterion = CaCLCriterion(LossConfig(**{f.name: getattr(args, f.name) for f in fields(LossConfig)}))
    model, provenance = build_network(args, criterion.needs_embeddings, device, info)
    train_loader, val_loader = build_loaders(DataConfig.from_flags(vars(args)), args.no_val, info, run_dir)
    groups = param_groups(unwrap(model), args.lr)
    optimizer = build_optimizer(groups, args.optimizer, args.lr, args.momentum, args.weight_decay,
                                args.nesterov)
    per_epoch = len(train_loader)
    step_epochs = args.lr_step or max(1, args.epochs // 3)
    scheduler = WarmupLR(optimizer, args.lr_scheduler, args.lr, total_iters=args.epochs * per_epoch,
                         warmup_iters=args.warmup_iters, step_iters=step_epochs * per_epoch)
    config = TrainerConfig(epochs=args.epochs, eval_interval=args.eval_interval, max_iters=args.max_iters,
                           max_nonfinite=args.max_nonfinite, channels_last=args.channels_last,
                           metric=args.best_metric, pretrained=provenance)
    trainer_class = AMPTrainer if args.amp else Trainer
    trainer = trainer_class(model, criterion, optimizer, scheduler, train_loader, config, device,
                            val_loader=val_loader, evaluator=PixelEvaluator() if val_loader else None,
                            run_dir=run_dir, dist_info=info, tensorboard=TensorBoard(run_dir),
                            args=args_to_dict(args))
    if args.resume and not args.ft:
        trainer.resume(args.resume)
    else:
        trainer.start_at(args.start_epoch, per_epoch)
    return trainer


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, relaunch under torchrun for ``--gpu-ids a,b``, then train."""
    args = parse_args(argv)
    if len(args.gpu_ids) > 1 and "WORLD_SIZE" not in os.environ:
        if args.no_cuda or not torch.cuda.is_available():
            raise UserError(f"--gpu-ids {','.join(map(str, args.gpu_ids))} needs CUDA GPUs; on the CPU run "
                            "torchrun --nproc_per_node N train.py --device cpu")
        raise SystemExit(relaunch(args.gpu_ids, __file__, sys.argv[1:] if argv is None else argv))
    info, device, run_dir = setup(args)
    try:
        build_trainer(args, info, device, run_dir).fit()
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    run_cli(main)
