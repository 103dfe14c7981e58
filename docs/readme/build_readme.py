"""Assemble README.md from docs/readme/: head, the per-area sections, results, tail (one source per part).

    python docs/readme/build_readme.py
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SECTIONS = ["method", "model", "datasets", "training", "evaluation", "demo", "results"]


def section(name: str) -> str:
    """One README section, with links rewritten from docs/readme/sections/ to the repository root."""
    text = (HERE / "sections" / f"{name}.md").read_text().strip() + "\n\n"
    return text.replace("](../synthetic_preview.png)", "](docs/synthetic_preview.png)").replace(
        "](../images/", "](docs/images/")


def main() -> None:
    parts = [(HERE / "head.md").read_text()] + [section(n) for n in SECTIONS] + [(HERE / "tail.md").read_text()]
    (ROOT / "README.md").write_text("".join(parts))


if __name__ == "__main__":
    main()
