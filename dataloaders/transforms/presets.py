"""The train and evaluation transform pipelines, built from a :class:`TransformConfig`."""
from __future__ import annotations

from dataloaders.config import TransformConfig
from dataloaders.transforms.joint import (
    ColorJitter,
    Compose,
    JointTransform,
    RandomDegrade,
    RandomHorizontalFlip,
    RandomScaleCrop,
    Resize,
)


def train_transform(config: TransformConfig, crop_size: int) -> Compose:
    """Random scale + crop/pad to ``crop_size``, optional flip, colour jitter and degradations."""
    steps: list[JointTransform] = [RandomScaleCrop(crop_size, (config.min_scale, config.max_scale))]
    if config.hflip:
        steps.append(RandomHorizontalFlip())
    if config.color_jitter > 0:
        steps.append(ColorJitter(config.color_jitter))
    if config.degrade_prob > 0:
        steps.append(RandomDegrade(config.degrade_prob))
    return Compose(steps)


def eval_transform(config: TransformConfig) -> Compose:
    """Resize to ``base_size`` squared (so batches stack); ``base_size`` 0 keeps the original size."""
    if config.base_size > 0:
        return Compose([Resize((config.base_size, config.base_size))])
    return Compose([])


def transform_for(config: TransformConfig, split: str, crop_size: int) -> Compose:
    """The pipeline for ``split``: random for train (crops of ``crop_size``), deterministic for val/test."""
    return train_transform(config, crop_size) if split == "train" else eval_transform(config)
