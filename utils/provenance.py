"""Where a backbone's initial weights came from, recorded in every checkpoint and printed by the tools."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

RANDOM_INIT = "random init"


@dataclass(frozen=True)
class Provenance:
    """Which initialisation a backbone got: a readable source and, for a file, its path and sha256."""

    source: str
    path: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain types for a checkpoint (weights-only loadable)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for logs and summaries."""
        if self.path is None:
            return self.source
        return f"{self.source} ({self.path}, sha256 {self.sha256[:12] if self.sha256 else '?'})"


def describe_provenance(record: Mapping[str, Any] | None) -> str:
    """One line for a checkpoint's ``pretrained`` record (``unknown`` for checkpoints without one)."""
    if not record:
        return "unknown (checkpoint predates provenance records)"
    return Provenance(**{k: record.get(k) for k in ("source", "path", "sha256")}).describe()


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_provenance(path: str | Path, source: str | None = None) -> Provenance:
    """Provenance of a weights file (``source`` defaults to the path itself)."""
    return Provenance(source or f"file {path}", str(path), sha256_of(path))
