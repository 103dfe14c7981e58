"""Dataset registry: ``DATASETS.get(name)(root, config) -> list[Record]`` for every supported layout.

Importing this package registers ``casia1``, ``casia2``, ``nist16``, ``coverage``, ``columbia``,
``folder``, ``list`` and ``synthetic``.
"""
from dataloaders.datasets import casia, columbia, coverage, folder, nist16, synthetic_source  # noqa: F401
from dataloaders.datasets.registry import DATASETS, GENERATORS

__all__ = ["DATASETS", "GENERATORS"]
