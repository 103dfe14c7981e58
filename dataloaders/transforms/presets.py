"""The train and evaluation transform pipelines, built from the data flags."""
from __future__ import annotations

import argparse

from dataloaders.transforms.joint import (
    ColorJitter,
    Compose,
    JointTransform,
    RandomDegrade,
    RandomHorizontalFlip,
    RandomScaleCrop,
    Resize,
)


def train_transform(args: argparse.Namespace) -> Compose:
    """Random scale + crop/pad to ``--crop-size``, optional flip, colour jitter and degradations."""
    steps: list[JointTransform] = [RandomScaleCrop(args.crop_size, (args.min_scale, args.max_scale))]
    if args.hflip:
        steps.append(RandomHorizontalFlip())
    if args.color_jitter > 0:
        steps.append(ColorJitter(args.color_jitter))
    if args.degrade_prob > 0:
        steps.append(RandomDegrade(args.degrade_prob))
    return Compose(steps)


def eval_transform(args: argparse.Namespace) -> Compose:
    """Resize to ``--base-size`` squared (so batches stack); ``--base-size 0`` keeps the original size."""
    if args.base_size > 0:
        return Compose([Resize((args.base_size, args.base_size))])
    return Compose([])


def transform_for(args: argparse.Namespace, split: str) -> Compose:
    """The pipeline for ``split``: random for train, deterministic for val/test."""
    return train_transform(args) if split == "train" else eval_transform(args)
