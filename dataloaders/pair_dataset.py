"""One Dataset over records: reads the image and mask, applies the joint transform, returns a sample.

A sample is a dict: ``image`` (3,H,W) float normalised, ``mask`` (1,H,W) float {0,1}, ``label`` (1 =
tampered image), ``name`` (image path relative to the dataset root), ``size`` (LongTensor [H, W] of
the original image; a batch stacks it to (B,2)).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from dataloaders.io import read_image
from dataloaders.mask_formats import load_mask
from dataloaders.records import Record
from dataloaders.transforms.joint import Compose, resize_mask, to_tensors
from utils.errors import DataError


def load_pair(record: Record, resize_masks: bool) -> tuple[Image.Image, np.ndarray]:
    """Image and mask of ``record`` at the image's size; a mask of another size is resized (nearest)
    when ``resize_masks``, otherwise it is a DataError naming both files."""
    image = read_image(record.image)
    size = (image.height, image.width)
    mask = load_mask(record)
    if mask is None:
        return image, np.zeros(size, dtype=bool)
    if mask.shape != size:
        if not resize_masks:
            raise DataError(f"{record.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but image "
                            f"{record.image} is {size[1]}x{size[0]} (see --mask-mismatch)")
        mask = resize_mask(mask, size)
    return image, mask


class PairDataset(Dataset):
    """Image/mask pairs from ``records`` with a joint ``transform``; randomness for the transform comes
    from torch's RNG (seeded per worker by the DataLoader), so runs are reproducible from the seed."""

    def __init__(self, records: Sequence[Record], transform: Compose, root: str = "",
                 resize_masks: bool = False, split: str = "all") -> None:
        self.records = list(records)
        self.split = split
        self.transform = transform
        self.root = root
        self.resize_masks = resize_masks

    def __len__(self) -> int:
        return len(self.records)

    def name_of(self, record: Record) -> str:
        """The record's image path relative to the dataset root (or the path itself)."""
        return os.path.relpath(record.image, self.root) if self.root else record.image

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image, mask = load_pair(record, self.resize_masks)
        size = torch.tensor([image.height, image.width])
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        image, mask = self.transform(image, mask, rng)
        image_t, mask_t = to_tensors(image, mask)
        return {"image": image_t, "mask": mask_t, "label": int(record.tampered), "name": self.name_of(record),
                "size": size}
