"""mypath: dataset roots from environment variables, and the errors that tell the user what to set."""
from __future__ import annotations

from pathlib import Path as FsPath

import pytest

from mypath import DATASET_FOLDERS, Path
from utils.errors import UserError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No dataset variable leaks in from the machine; the common root is an empty temp folder."""
    for name in DATASET_FOLDERS:
        monkeypatch.delenv(f"CACL_{name.upper()}_ROOT", raising=False)
    monkeypatch.setenv("CACL_DATA_ROOT", str(tmp_path))


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(UserError, match="unknown dataset 'imagenet'.*casia1.*columbia"):
        Path.db_root_dir("imagenet")


@pytest.mark.parametrize("name", ["casia1", "casia2", "nist16", "coverage", "columbia"])
def test_missing_root_names_the_variable_to_set(name: str, tmp_path) -> None:
    with pytest.raises(UserError) as error:
        Path.db_root_dir(name)
    message = str(error.value)
    assert f"CACL_{name.upper()}_ROOT" in message and "CACL_DATA_ROOT" in message
    assert str(tmp_path / DATASET_FOLDERS[name]) in message
    assert "\n" not in message


def test_common_root_holds_each_dataset_folder(tmp_path) -> None:
    (tmp_path / "COVERAGE").mkdir()
    assert FsPath(Path.db_root_dir("coverage")) == tmp_path / "COVERAGE"
    assert FsPath(Path.db_root_dir("Coverage")) == tmp_path / "COVERAGE"


def test_dataset_variable_overrides_common_root(monkeypatch, tmp_path) -> None:
    own = tmp_path / "elsewhere" / "casia"
    own.mkdir(parents=True)
    monkeypatch.setenv("CACL_CASIA2_ROOT", str(own))
    assert FsPath(Path.db_root_dir("casia2")) == own
    monkeypatch.setenv("CACL_CASIA2_ROOT", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="CACL_CASIA2_ROOT"):
        Path.db_root_dir("casia2")


def test_synthetic_and_must_exist_false_need_no_folder(tmp_path) -> None:
    assert FsPath(Path.db_root_dir("synthetic")) == tmp_path / "synthetic"
    assert FsPath(Path.db_root_dir("nist16", must_exist=False)) == tmp_path / "NC2016"


def test_default_common_root_is_data(monkeypatch) -> None:
    monkeypatch.delenv("CACL_DATA_ROOT")
    assert FsPath(Path.db_root_dir("columbia", must_exist=False)) == FsPath("data") / "Columbia"
