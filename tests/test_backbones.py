"""Backbones: registry, feature strides and channels per backbone × output stride, pretrained weights."""
from __future__ import annotations

import math
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from modeling.backbone import BACKBONES, OUTPUT_STRIDES, build_backbone
from modeling.backbone.weights import load_pretrained
from utils.errors import UserError

EXPECTED = {"resnet", "resnet101", "xception", "drn", "mobilenet"}
HEIGHT, WIDTH = 65, 67


def test_registry_names_the_five_backbones() -> None:
    assert set(BACKBONES.names()) == EXPECTED


def test_unknown_backbone_and_stride_are_user_errors() -> None:
    with pytest.raises(UserError, match="resnet"):
        build_backbone("resnt")
    with pytest.raises(UserError, match="output stride 32"):
        build_backbone("mobilenet", output_stride=32)


@pytest.mark.parametrize("output_stride", OUTPUT_STRIDES)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_feature_strides_and_channels(name: str, output_stride: int) -> None:
    torch.manual_seed(0)
    backbone = build_backbone(name, output_stride).eval()
    with torch.no_grad():
        low, high = backbone(torch.randn(1, 3, HEIGHT, WIDTH))
    assert backbone.output_stride == output_stride
    assert low.shape == (1, backbone.low_level_channels, math.ceil(HEIGHT / 4), math.ceil(WIDTH / 4))
    expected_high = (math.ceil(HEIGHT / output_stride), math.ceil(WIDTH / output_stride))
    assert high.shape == (1, backbone.high_level_channels, *expected_high)


def assert_loaded(backbone: nn.Module, reference: dict[str, torch.Tensor], skipped: tuple[str, ...]) -> None:
    """Every tensor of the backbone equals the file's tensor of the same name."""
    own = backbone.state_dict()
    kept = {k: v for k, v in reference.items() if not k.startswith(skipped)}
    assert set(own) == set(kept)
    for key, value in kept.items():
        assert torch.equal(own[key], value), key


@pytest.mark.parametrize(
    ("name", "factory", "skipped"),
    [
        ("resnet", torchvision.models.resnet50, ("fc.",)),
        ("mobilenet", torchvision.models.mobilenet_v2, ("classifier.", "features.18.")),
    ],
)
def test_torchvision_state_dict_round_trip(tmp_path, capsys, name, factory, skipped) -> None:
    torch.manual_seed(1)
    reference = factory(weights=None).state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(reference, path)
    backbone = build_backbone(name, 8, pretrained=path)
    assert_loaded(backbone, reference, skipped)
    expected_count = sum(not k.startswith(skipped) for k in reference)
    assert f"loaded {expected_count} tensors" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["xception", "drn"])
def test_own_format_round_trip_with_model_prefix(tmp_path, name) -> None:
    torch.manual_seed(2)
    reference = build_backbone(name).state_dict()
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in reference.items()}}, path)
    torch.manual_seed(3)
    backbone = build_backbone(name)
    assert load_pretrained(backbone, path) == len(reference)
    assert_loaded(backbone, reference, ())


def test_partial_file_reports_missing_and_unexpected_keys(tmp_path, capsys) -> None:
    reference = torchvision.models.mobilenet_v2(weights=None).state_dict()
    partial = {k: v for k, v in reference.items() if k.startswith("features.0.")}
    partial["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pth"
    torch.save(partial, path)
    build_backbone("mobilenet", pretrained=path)
    out = capsys.readouterr().out
    assert "loaded 6 tensors" in out  # conv weight + 5 BN tensors
    assert "unexpected keys: extra.weight" in out
    assert "missing keys: features.1.conv.0.0.weight" in out


def test_bad_files_are_one_line_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        build_backbone("resnet", pretrained=tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable weights file"):
        build_backbone("mobilenet", pretrained=garbage)
    resnet18 = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), resnet18)
    with pytest.raises(UserError, match="wrong shape") as error:
        build_backbone("resnet", pretrained=resnet18)
    assert "\n" not in str(error.value)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"head.weight": torch.zeros(3)}, unrelated)
    with pytest.raises(UserError, match="no tensor matches"):
        build_backbone("drn", pretrained=unrelated)


def test_imagenet_offline_fails_cleanly(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(UserError, match="could not fetch torchvision weights ResNet50_Weights") as error:
        build_backbone("resnet", pretrained="imagenet")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["xception", "drn"])
def test_imagenet_without_torchvision_weights_asks_for_a_file(name: str) -> None:
    with pytest.raises(UserError, match="no ImageNet weights.*--pretrained PATH"):
        build_backbone(name, pretrained="imagenet")
