"""Where each dataset lives on this machine.

Roots come from environment variables, read when asked (never at import time):

- ``CACL_DATA_ROOT``: common parent folder (default ``./data``); each dataset defaults to a sub-folder.
- ``CACL_<NAME>_ROOT``: one dataset's folder, overriding the common root, e.g. ``CACL_CASIA1_ROOT``.

| name     | variable            | default sub-folder |
|----------|---------------------|--------------------|
| casia1   | CACL_CASIA1_ROOT    | CASIA1             |
| casia2   | CACL_CASIA2_ROOT    | CASIA2             |
| nist16   | CACL_NIST16_ROOT    | NC2016             |
| coverage | CACL_COVERAGE_ROOT  | COVERAGE           |
| columbia | CACL_COLUMBIA_ROOT  | Columbia           |
| synthetic| CACL_SYNTHETIC_ROOT | synthetic          |

``synthetic`` is generated on the fly; its folder only holds materialised copies and need not exist.
"""
from __future__ import annotations

import os
from pathlib import Path as _FsPath

from utils.errors import UserError

COMMON_ROOT_VARIABLE = "CACL_DATA_ROOT"
DEFAULT_COMMON_ROOT = "data"
DATASET_FOLDERS = {
    "casia1": "CASIA1",
    "casia2": "CASIA2",
    "nist16": "NC2016",
    "coverage": "COVERAGE",
    "columbia": "Columbia",
    "synthetic": "synthetic",
}
MAY_BE_ABSENT = {"synthetic"}


def root_variable(name: str) -> str:
    """The environment variable that sets dataset ``name``'s root."""
    return f"CACL_{name.upper()}_ROOT"


class Path:
    """``Path.db_root_dir(name)`` as in the DeepLabv3+ repos, resolved from the environment."""

    @staticmethod
    def db_root_dir(name: str, must_exist: bool = True) -> str:
        """Return dataset ``name``'s root folder; raise a UserError naming the variable to set."""
        key = name.lower()
        if key not in DATASET_FOLDERS:
            raise UserError(f"unknown dataset '{name}' in mypath.py; known: {', '.join(DATASET_FOLDERS)}")
        variable = root_variable(key)
        explicit = os.environ.get(variable)
        common = os.environ.get(COMMON_ROOT_VARIABLE, DEFAULT_COMMON_ROOT)
        root = _FsPath(explicit) if explicit else _FsPath(common) / DATASET_FOLDERS[key]
        if must_exist and key not in MAY_BE_ABSENT and not root.is_dir():
            raise UserError(
                f"dataset '{key}' not found at {root}: set {variable}=/path/to/{DATASET_FOLDERS[key]} "
                f"(or {COMMON_ROOT_VARIABLE} to the folder holding it)"
            )
        return str(root)
