"""Imports run one way: entry scripts → application layer → modeling / dataloaders → utils.

The walker reads every project file's imports (top-level and inside functions) and reports each arrow
that points up the stack or sideways between the two domain packages. It is tested on a small tree
with a known upward import, so a clean result on the project means something.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Higher imports lower; equal ranks may not import each other unless they are the same package.
RANKS = {
    "utils": 0,
    "mypath": 1,
    "modeling": 2, "dataloaders": 2,
    "evaluation": 3,
    "engine": 4, "serving": 4,
    "train": 5, "test": 5, "demo": 5, "scripts": 5, "benchmarks": 5,
}
ENTRY_SCRIPTS = {"train", "test", "demo"}
SKIPPED_FOLDERS = {"tests", "docs", ".git", "__pycache__", ".ci"}


def _imported_names(path: Path, root: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against its package)."""
    package = list(path.relative_to(root).parent.parts)
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            if node.module:
                names.append(".".join(base + [node.module]))
            else:  # "from .. import train": the imported names are the modules
                names += [".".join(base + [alias.name]) for alias in node.names]
    return names


def _is_allowed(source: str, target: str) -> bool:
    if target in ENTRY_SCRIPTS:
        return False
    if source == target:
        return True
    return RANKS[source] > RANKS[target]


def upward_imports(root: Path) -> list[str]:
    """Every import in the tree under ``root`` that breaks the layering, as ``file -> module`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if SKIPPED_FOLDERS & set(parts):
            continue
        source = path.stem if len(parts) == 1 else parts[0]
        if source not in RANKS:
            found.append(f"{path.relative_to(root)}: not in any layer (add it to RANKS)")
            continue
        for name in _imported_names(path, root):
            target = name.split(".")[0]
            if target in RANKS and not _is_allowed(source, target):
                found.append(f"{path.relative_to(root)} -> {name}")
    return found


def test_project_imports_point_down() -> None:
    assert upward_imports(ROOT) == []


def test_walker_finds_upward_and_sideways_imports(tmp_path: Path) -> None:
    files = {
        "utils/helper.py": "import os\n\ndef f():\n    from modeling.net import Net\n",
        "modeling/net.py": "from utils.helper import f\nfrom dataloaders.io import read\n",
        "dataloaders/io.py": "from . import formats\n",
        "dataloaders/formats.py": "",
        "evaluation/run.py": "from engine.trainer import fit\n",
        "engine/trainer.py": "from evaluation.run import go\nfrom ..train import main\n",
        "train.py": "from engine.trainer import fit\n",
        "scripts/tool.py": "import test\n",
        "serving/app.py": "from .. import demo\n",
        "stray.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert upward_imports(tmp_path) == [
        "engine/trainer.py -> train",
        "evaluation/run.py -> engine.trainer",
        "modeling/net.py -> dataloaders.io",
        "scripts/tool.py -> test",
        "serving/app.py -> demo",
        "stray.py: not in any layer (add it to RANKS)",
        "utils/helper.py -> modeling.net",
    ]
