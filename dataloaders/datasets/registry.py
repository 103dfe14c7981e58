"""The dataset registries (filled by the modules of this package).

- ``DATASETS``: name → ``list_records(root, args) -> list[Record]``.
- ``GENERATORS``: name → ``build(args, split, records) -> Dataset`` for datasets that generate their
  samples (``synthetic``) instead of reading pairs; their ``list_records`` lists the source photos.
"""
from __future__ import annotations

from utils.registry import Registry

DATASETS = Registry("dataset")
GENERATORS = Registry("generated dataset")
