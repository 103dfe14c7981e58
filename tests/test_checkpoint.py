"""The checkpoint format: atomic saves, weights-only loading, clear errors for foreign files."""
from __future__ import annotations

import argparse

import pytest
import torch

from utils.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_model_weights, save_checkpoint
from utils.errors import CheckpointError


def _state(model: torch.nn.Module) -> dict:
    return {"model_config": {"hidden": 3}, "state_dict": model.state_dict(), "epoch": 2}


def test_round_trip_keeps_tensors_and_tags_format(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_checkpoint(_state(model), tmp_path / "ck.pth.tar")
    state = load_checkpoint(tmp_path / "ck.pth.tar")
    assert state["format"] == CHECKPOINT_FORMAT and state["epoch"] == 2
    assert torch.equal(state["state_dict"]["weight"], model.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pth.tar"]


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ck.pth.tar"
    save_checkpoint(_state(torch.nn.Linear(3, 2)), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_state(torch.nn.Linear(3, 2)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pth.tar"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip", "not a PyTorch checkpoint file"),
        (None, "not found"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pickled_objects_are_refused_by_weights_only_loading(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"args": argparse.Namespace(lr=1.0)}, path)
    with pytest.raises(CheckpointError, match="other than tensors"):
        load_checkpoint(path)


def test_foreign_state_dict_is_refused(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a CaCL-Net checkpoint"):
        load_checkpoint(path)


def test_weights_of_another_architecture_name_the_mismatch(tmp_path):
    save_checkpoint(_state(torch.nn.Linear(3, 2)), tmp_path / "ck.pth")
    state = load_checkpoint(tmp_path / "ck.pth")
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_model_weights(torch.nn.Linear(4, 2), state, tmp_path / "ck.pth")


def test_ddp_prefix_and_training_only_heads_are_handled(tmp_path):
    source = torch.nn.Sequential()
    source.add_module("body", torch.nn.Linear(3, 2))
    source.add_module("projection_t", torch.nn.Linear(2, 2))
    weights = {f"module.{k}": v for k, v in source.state_dict().items()}
    target = torch.nn.Sequential()
    target.add_module("body", torch.nn.Linear(3, 2))
    load_model_weights(target, {"state_dict": weights}, "ck.pth")
    assert torch.equal(target.body.weight, source.body.weight)


def _with_projection(width: int, embed: int | None) -> torch.nn.Sequential:
    """A stand-in model: a body and, unless ``embed`` is None, a training-only projection head."""
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(3, width))
    if embed is not None:
        model.add_module("projection_t", torch.nn.Linear(width, embed))
    return model


@pytest.mark.parametrize("source_embed", [None, 4])
def test_fine_tuning_keeps_fresh_projection_heads_that_do_not_fit(source_embed):
    """--ft from a checkpoint without projection heads, or with another embedding width: the body
    loads, the model's own heads stay; without the keyword the same load is an error."""
    source, target = _with_projection(2, source_embed), _with_projection(2, 8)
    fresh = target.projection_t.weight.clone()
    state = {"state_dict": source.state_dict()}
    with pytest.raises(CheckpointError, match="missing|wrong shape"):
        load_model_weights(_with_projection(2, 8), state, "ck.pth")
    load_model_weights(target, state, "ck.pth", keep_fresh_projection=True)
    assert torch.equal(target.body.weight, source.body.weight)
    assert torch.equal(target.projection_t.weight, fresh)


def test_fine_tuning_loads_projection_heads_that_fit():
    source, target = _with_projection(2, 8), _with_projection(2, 8)
    load_model_weights(target, {"state_dict": source.state_dict()}, "ck.pth", keep_fresh_projection=True)
    assert torch.equal(target.projection_t.weight, source.projection_t.weight)
    with pytest.raises(CheckpointError, match="wrong shape"):  # the body must still fit
        load_model_weights(_with_projection(3, 8), {"state_dict": source.state_dict()}, "ck.pth",
                           keep_fresh_projection=True)


def test_a_checkpoint_from_before_separable_names_the_setting_to_pass(tmp_path):
    from modeling import build_model

    standard = build_model("mobilenet", 16, 16, with_projection=False)
    old_config = {k: v for k, v in standard.config.items() if k != "separable"}  # saved before the option
    state = {"model_config": old_config, "state_dict": standard.state_dict()}
    separable = build_model("mobilenet", 16, 16, with_projection=False, separable=True)
    with pytest.raises(CheckpointError, match=r"ck\.pth: weights do not fit .*separable=False \(this model: "
                                              r"True\).*matching flags"):
        load_model_weights(separable, state, "ck.pth")
    load_model_weights(build_model(**old_config), state, "ck.pth")  # build_model's default is standard


def test_a_contour_head_of_another_width_is_named_in_the_error():
    from modeling import build_model

    wide = build_model("mobilenet", 16, 16, with_projection=False)
    state = {"model_config": wide.config, "state_dict": wide.state_dict()}
    with pytest.raises(CheckpointError, match=r"ck\.pth: .*contour_hidden=64 \(this model: 0\)"):
        load_model_weights(build_model("mobilenet", 16, 16, with_projection=False, contour_hidden=0), state, "ck.pth")
    light = build_model("mobilenet", 16, 16, with_projection=False, contour_hidden_kernel=1)
    with pytest.raises(CheckpointError, match=r"ck\.pth: .*contour_hidden_kernel=3 \(this model: 1\)"):
        load_model_weights(light, state, "ck.pth")


def test_saved_model_config_fills_settings_older_checkpoints_predate():
    from utils.checkpoint import saved_model_config

    assert saved_model_config({"model_config": {"backbone": "mobilenet"}}) == {
        "backbone": "mobilenet", "separable": False, "contour_hidden": 64, "contour_hidden_kernel": 3}
    assert saved_model_config({"model_config": {"separable": True}})["separable"] is True
