"""The typed settings: each dataclass default is its flag's default, a bad value is a one-line UserError
naming the field, the values are frozen, and flags → config → flags loses nothing."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import pytest

import test as test_cli
from dataloaders import add_data_args
from dataloaders.config import DataConfig, TransformConfig
from engine.args import build_parser, parse_config, train_config
from engine.config import ModelConfig, OptimConfig, RunConfig, TrainConfig
from engine.run_dir import args_to_dict
from evaluation.config import EvalConfig
from utils.errors import UserError
from utils.losses import LossConfig


def _flag_defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {action.dest: action.default for action in parser._actions if action.dest != "help"}


def _assert_one_line_error(build: Any, field: str) -> None:
    with pytest.raises(UserError) as error:
        build()
    message = str(error.value)
    assert "\n" not in message and message.startswith(field) and "--" not in message, message


def test_data_defaults_are_the_flag_defaults() -> None:
    defaults = _flag_defaults(add_data_args(argparse.ArgumentParser()))
    config = DataConfig()
    assert config.to_flags() == {**defaults, "seed": config.seed}
    assert DataConfig.from_flags(defaults) == config


def test_data_flags_round_trip() -> None:
    argv = ["--list", "pairs.txt", "--no-hflip", "--base-size", "0", "--include-authentic",
            "--batch-size", "3"]
    flags = vars(add_data_args(argparse.ArgumentParser()).parse_args(argv))
    config = DataConfig.from_flags(flags)
    assert config.pair_list == "pairs.txt" and config.transforms.hflip is False and config.include_authentic
    assert config.to_flags() == {**flags, "seed": 0}
    assert DataConfig.from_flags(config.to_flags()) == config


@pytest.mark.parametrize("field, value", [
    ("val_fraction", 1.5), ("test_fraction", -0.1), ("crop_size", 0), ("batch_size", 0),
    ("synthetic_size", 0), ("test_batch_size", 0), ("workers", -1), ("mask_mismatch", "crop"),
    ("mix_synthetic", -1.0),
])
def test_bad_data_settings_are_one_line_errors(field: str, value: Any) -> None:
    _assert_one_line_error(lambda: DataConfig(**{field: value}), field)


@pytest.mark.parametrize("field, value", [
    ("base_size", -1), ("min_scale", 0.0), ("color_jitter", 2.0), ("degrade_prob", 1.5),
])
def test_bad_transform_settings_are_one_line_errors(field: str, value: Any) -> None:
    _assert_one_line_error(lambda: TransformConfig(**{field: value}), field)


def test_data_settings_are_frozen() -> None:
    config = DataConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.dataset = "casia1"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.transforms.hflip = False  # type: ignore[misc]
    assert dataclasses.replace(config, dataset="casia1").dataset == "casia1" and config.dataset == "synthetic"


def test_loss_defaults_are_the_flag_defaults() -> None:
    """One mask-loss default for the criterion and the flag: BCE + Dice, what every run used."""
    defaults = build_parser().parse_args([])
    flags = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(LossConfig)}
    assert LossConfig(**flags) == LossConfig()
    assert LossConfig().loss_type == "bce_dice"


@pytest.mark.parametrize("field, value", [
    ("loss_type", "dise"), ("lambda_contour", -1.0), ("temperature", 0.0), ("contour_width", 0),
    ("contour_patches", "x"), ("num_anchors", 2), ("hard_ratio", 1.5), ("pos_weight", 0.0),
    ("contrast_scope", "pair"),
])
def test_bad_loss_settings_are_one_line_errors_naming_the_field(field: str, value: Any) -> None:
    _assert_one_line_error(lambda: LossConfig(**{field: value}), field)


def test_train_defaults_are_the_flag_defaults() -> None:
    """Each model, optimisation and run field defaults to its flag's default; the flags that are parsed
    further (--gpu-ids text, --checkname derived from --backbone) default to "not given"."""
    parser = build_parser()
    for config_class in (ModelConfig, OptimConfig, RunConfig):
        for field in dataclasses.fields(config_class):
            if field.name not in ("gpu_ids", "checkname"):
                assert parser.get_default(field.name) == field.default, field.name
    assert parser.get_default("gpu_ids") is None and parser.get_default("checkname") is None
    expected = TrainConfig(data=DataConfig(seed=RunConfig.seed), model=ModelConfig(), loss=LossConfig(),
                           optim=OptimConfig(), run=RunConfig(checkname="cacl-mobilenet"))
    assert parse_config([]) == expected


@pytest.mark.parametrize("argv", [[], ["--list", "p.txt", "--gpu-ids", "0,1", "--no-amp", "--seed", "4",
                                       "--loss-type", "dice", "--checkname", "x", "--max-iters", "3"]])
def test_the_recorded_flags_are_the_parsed_flags(argv: list[str]) -> None:
    """args.json and the checkpoint's ``args`` keep today's keys: every flag destination, by its name."""
    parsed = build_parser().parse_args(argv)
    config = train_config(parsed)
    flags = config.to_flags()
    assert flags == {**vars(parsed), "gpu_ids": list(config.run.gpu_ids), "checkname": config.run.checkname}
    assert args_to_dict(flags) == json.loads(json.dumps(args_to_dict(flags)))
    assert train_config(argparse.Namespace(**{**flags, "gpu_ids": parsed.gpu_ids})) == config


@pytest.mark.parametrize("build, field", [
    (lambda: ModelConfig(freeze_bn=True, sync_bn=True), "freeze_bn"),
    (lambda: ModelConfig(freeze_backbone_bn=True, sync_bn=True), "freeze_backbone_bn"),
    (lambda: ModelConfig(dropout_scale=-0.5), "dropout_scale"),
    (lambda: ModelConfig(contour_hidden=-1), "contour_hidden"),
    (lambda: ModelConfig(contour_hidden_kernel=5), "contour_hidden_kernel"),
    (lambda: OptimConfig(epochs=0), "epochs"),
    (lambda: OptimConfig(head_lr_mult=0), "head_lr_mult"),
    (lambda: OptimConfig(max_nonfinite=0), "max_nonfinite"),
    (lambda: OptimConfig(max_iters=-1), "max_iters"),
    (lambda: RunConfig(eval_interval=0), "eval_interval"),
    (lambda: RunConfig(ft=True), "ft"),
    (lambda: RunConfig(best_metric="f1_trivial"), "best_metric"),
])
def test_bad_train_settings_are_one_line_errors(build: Any, field: str) -> None:
    _assert_one_line_error(build, field)


def test_model_architecture_is_what_the_built_model_records() -> None:
    from modeling import build_model

    config = parse_config(["--contour-hidden", "0", "--no-separable", "--out-stride", "8"]).model
    model = build_model(**config.architecture(), with_projection=False, pretrained="none")
    assert model.config == {**config.architecture(), "with_projection": False}
    assert (model.config["contour_hidden"], model.config["separable"], model.config["output_stride"]) == (0, False, 8)
    for flags, kernel in (([], 1), (["--contour-hidden-kernel", "3"], 3)):
        config = parse_config(flags).model
        model = build_model(**config.architecture(), pretrained="none")
        assert model.config["contour_hidden_kernel"] == kernel


def test_train_settings_are_frozen() -> None:
    config = parse_config([])
    parts = ((config, "data"), (config.model, "backbone"), (config.optim, "lr"), (config.run, "seed"),
             (config.loss, "temperature"))
    for part, name in parts:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(part, name, None)


def test_eval_defaults_are_test_py_flag_defaults_and_evaluation_runs_in_float32() -> None:
    args = test_cli.parse_args(["--in-path", "x", "--ckpt", "y"])
    for field in dataclasses.fields(EvalConfig):
        if field.name not in ("in_path", "device", "data"):
            assert getattr(args, field.name) == field.default, field.name
    assert RunConfig.amp is build_parser().get_default("amp") is True  # training: mixed precision
    assert EvalConfig.amp is False  # test.py scores in float32, like the trainer's validation
    assert test_cli.parse_args(["--in-path", "x", "--ckpt", "y", "--amp"]).amp is True


def test_eval_config_takes_unset_split_flags_from_the_training_run() -> None:
    argv = ["--in-path", "synthetic", "--ckpt", "y", "--device", "cpu", "--crop-size", "48"]
    args = test_cli.parse_args(argv)
    saved = {"dataset": "synthetic", "split_seed": 3, "synthetic_size": 16, "crop_size": 40}
    config = test_cli.eval_config(args, {"args": saved})
    assert (config.data.split_seed, config.data.synthetic_size, config.data.crop_size) == (3, 16, 48)
    assert config.data.val_fraction == DataConfig.val_fraction and config.device == "cpu"
    other = test_cli.eval_config(args, {"args": {**saved, "dataset": "casia1"}})
    assert other.data.split_seed == DataConfig.split_seed
    assert other.data.synthetic_size == DataConfig.synthetic_size


@pytest.mark.parametrize("field, value", [("tile", 0), ("resize", -1), ("tta", "vflip")])
def test_bad_eval_settings_are_one_line_errors(field: str, value: Any) -> None:
    _assert_one_line_error(lambda: EvalConfig(in_path="x", device="cpu", **{field: value}), field)
