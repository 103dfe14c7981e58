"""The dataset registries (filled by the modules of this package).

- ``DATASETS``: name → ``list_records(root, config=DataConfig()) -> list[Record]``: the records under
  ``root``; ``config`` (a :class:`dataloaders.config.DataConfig`) supplies what a layout needs besides
  its folder (``pair_list`` for ``list`` and ``nist16``, ``synthetic_source`` for ``synthetic``).
- ``GENERATORS``: name → ``build(config, split, records, include_authentic, length=None) -> Dataset`` for
  datasets that generate their samples (``synthetic``) instead of reading pairs; their ``list_records``
  lists the source photos.
"""
from __future__ import annotations

from utils.registry import Registry

DATASETS = Registry("dataset")
GENERATORS = Registry("generated dataset")
