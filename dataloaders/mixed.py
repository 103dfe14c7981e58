"""Joint training on real and synthetic tampering (``--mix-synthetic R``).

Real benchmarks are small and dominated by one kind of edit (CASIA v1: splicing and copy-move of whole
objects); the synthetic generator adds copy-move, splicing and removal of arbitrary shapes, which is what
transfers to benchmarks a model never saw. The mixed set is the real train split plus ``R × len(real)``
generated samples, shuffled together by the loader, so every batch holds both in proportion.
"""
from __future__ import annotations

from torch.utils.data import Dataset

from dataloaders.pair_dataset import PairDataset
from dataloaders.synthetic import SyntheticDataset


class MixedDataset(Dataset):
    """``real`` followed by ``synthetic``; ``records`` (for the split list) are the real ones."""

    def __init__(self, real: PairDataset, synthetic: SyntheticDataset) -> None:
        self.real, self.synthetic = real, synthetic
        self.records = real.records
        self.split = real.split

    def __len__(self) -> int:
        return len(self.real) + len(self.synthetic)

    def __getitem__(self, index: int) -> dict:
        if index < len(self.real):
            return self.real[index]
        return self.synthetic[index - len(self.real)]


def mixed_length(real_length: int, ratio: float) -> int:
    """Synthetic samples added to ``real_length`` real ones at ``ratio`` (at least one when ratio > 0)."""
    return max(1, round(real_length * ratio)) if ratio > 0 else 0
