"""train.py end to end on CPU with a tiny setup (MobileNetV2, 64 px synthetic images, 1-2 iterations
per epoch): run folder layout, checkpoints, exact resume, --ft, the non-finite-loss guard, AMP
(bfloat16 on CPU), channels-last and the TensorBoard log."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_cli
import train
from engine.run_dir import read_history
from engine.state import TrainState, is_improvement
from engine.trainer import AMPTrainer, TrainingDiverged
from modeling import build_model
from modeling.deeplab import DeepLab
from modeling.utils import FrozenBatchNorm2d
from utils.checkpoint import load_checkpoint, load_model_weights
from utils.errors import run_cli
from utils.provenance import sha256_of

from test_weights import renamed_mobilenet_file

TINY = ["--backbone", "mobilenet", "--crop-size", "64", "--base-size", "64", "--synthetic-size", "2",
        "--batch-size", "2", "--val-fraction", "0.5", "--workers", "0", "--warmup-iters", "1",
        "--num-anchors", "64"]


def _run(tmp_path: Path, *extra: str, checkname: str = "tiny") -> Path:
    """Run train.main with the tiny setup; returns the run folder it created."""
    before = set((tmp_path / "synthetic" / checkname).glob("experiment_*"))
    train.main([*TINY, "--run-dir", str(tmp_path), "--checkname", checkname, *extra])
    (run_dir,) = set((tmp_path / "synthetic" / checkname).glob("experiment_*")) - before
    return run_dir


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoint.pth.tar")["state_dict"]


def test_run_folder_layout_and_checkpoint_contents(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "--epochs", "1")
    assert run_dir.name == "experiment_0"
    names = {p.name for p in run_dir.iterdir()}
    expected = {"checkpoint.pth.tar", "model_best.pth.tar", "args.json", "train_list.txt", "val_list.txt"}
    assert expected <= names
    args = json.loads((run_dir / "args.json").read_text())
    assert args["backbone"] == "mobilenet" and args["crop_size"] == 64
    state = load_checkpoint(run_dir / "checkpoint.pth.tar")  # weights_only=True inside
    training_keys = {"optimizer", "scheduler", "scaler", "epoch", "iteration", "best_metric", "rng", "args"}
    assert training_keys <= set(state)
    assert TrainState.from_dict(state).to_dict() == {k: state[k] for k in TrainState().to_dict()}
    assert (state["epoch"], state["iteration"], state["scaler"]) == (1, 1, None)
    assert state["model_config"] == {"backbone": "mobilenet", "output_stride": 16, "embed_dim": 128,
                                     "with_projection": True, "separable": True, "contour_hidden": 64,
                                     "contour_hidden_kernel": 1}
    model = build_model(**{**state["model_config"], "with_projection": False})  # what test.py does
    load_model_weights(model, state, run_dir / "checkpoint.pth.tar")
    assert _run(tmp_path, "--epochs", "1").name == "experiment_1"


def test_validation_history_and_the_best_metric_flag(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, "--epochs", "3", "--best-metric", "auc")
    history = read_history(run_dir)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    best = max(history, key=lambda row: row["auc"])  # ties keep the earliest, as the trainer does
    state = load_checkpoint(run_dir / "checkpoint.pth.tar")
    assert state["best_metric"] == pytest.approx(best["auc"])
    assert state["best_epoch"] + 1 == best["epoch"]  # 0-based index vs completed-epoch count
    assert load_checkpoint(run_dir / "model_best.pth.tar")["epoch"] == best["epoch"]


def _folder_with_a_truncated_jpeg(root: Path) -> Path:
    """A Tp/Gt folder of two JPEG pairs; the second JPEG ends half-way (its header still reads)."""
    rng = np.random.default_rng(0)
    for folder in ("Tp", "Gt"):
        (root / folder).mkdir(parents=True)
    for stem in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / "Tp" / f"{stem}.jpg")
        Image.fromarray(np.full((48, 64), 255, dtype=np.uint8)).save(root / "Gt" / f"{stem}_gt.png")
    data = (root / "Tp" / "b.jpg").read_bytes()
    (root / "Tp" / "b.jpg").write_bytes(data[: len(data) // 2])
    return root


def test_a_truncated_jpeg_read_by_a_worker_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _folder_with_a_truncated_jpeg(tmp_path / "set")
    argv = [*TINY, "--dataset", "folder", "--data-root", str(root), "--workers", "1", "--val-fraction", "0",
            "--test-fraction", "0", "--no-val", "--run-dir", str(tmp_path / "run"), "--no-amp"]
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: train.main(argv))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"error: {root / 'Tp' / 'b.jpg'}: cannot read image")


def test_train_state_converts_to_and_from_checkpoint_keys() -> None:
    """One conversion each way: every field round-trips; an older checkpoint's missing keys keep their
    defaults and the checkpoint's other parts are ignored."""
    state = TrainState(epoch=3, iteration=30, best_metric=0.5, best_tiebreak=0.7, best_epoch=1, nonfinite=2,
                       last_metrics={"f1": 0.5})
    assert TrainState.from_dict({**state.to_dict(), "optimizer": {}, "rng": []}) == state
    assert TrainState.from_dict({"epoch": 2, "iteration": 20}) == TrainState(epoch=2, iteration=20)


def test_record_validation_keeps_the_best_epoch() -> None:
    state = TrainState()
    assert state.record_validation(0, {"f1": 0.0, "auc": 0.6}, "f1")
    assert not state.record_validation(1, {"f1": 0.0, "auc": 0.6}, "f1")  # a full tie keeps epoch 0
    assert state.record_validation(2, {"f1": 0.0, "auc": 0.7}, "f1")
    assert (state.best_epoch, state.best_metric, state.last_metrics["auc"]) == (2, 0.0, 0.7)


def test_best_checkpoint_rule() -> None:
    nan = float("nan")
    assert is_improvement(0.0, 0.6, None, None)  # the first validation is the best so far
    assert not is_improvement(nan, 0.9, None, None)
    assert is_improvement(0.3, 0.1, 0.2, 0.9) and not is_improvement(0.1, 0.9, 0.2, 0.1)
    assert is_improvement(0.0, 0.7, 0.0, 0.6), "F1 tied at 0: the higher AUC wins"
    assert not is_improvement(0.0, 0.6, 0.0, 0.6), "a full tie keeps the earlier epoch"
    assert not is_improvement(0.0, nan, 0.0, 0.6) and not is_improvement(0.0, 0.7, 0.0, None)


def test_resume_after_an_epoch_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    uninterrupted = _run(tmp_path, "--epochs", "2", checkname="full")
    stopped = _run(tmp_path, "--epochs", "2", "--max-iters", "1", checkname="part")
    assert load_checkpoint(stopped / "checkpoint.pth.tar")["epoch"] == 1
    resumed = _run(tmp_path, "--epochs", "2", "--resume", str(stopped / "checkpoint.pth.tar"),
                   checkname="part")
    expected, actual = _weights(uninterrupted), _weights(resumed)
    halfway = _weights(stopped)
    assert not all(torch.equal(expected[k], halfway[k]) for k in expected), "epoch 2 changed nothing"
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], atol=1e-6, rtol=0, msg=key)
    full_state, resumed_state = (load_checkpoint(p / "checkpoint.pth.tar") for p in (uninterrupted, resumed))
    assert resumed_state["iteration"] == full_state["iteration"] == 2
    assert resumed_state["last_metrics"] == pytest.approx(full_state["last_metrics"], abs=1e-6, nan_ok=True)


def test_weight_average_is_validated_saved_and_resumed_exactly(tmp_path: Path) -> None:
    ema = ("--epochs", "2", "--ema-decay", "0.5")
    uninterrupted = _run(tmp_path, *ema, checkname="full")
    stopped = _run(tmp_path, *ema, "--max-iters", "1", checkname="part")
    resumed = _run(tmp_path, *ema, "--resume", str(stopped / "checkpoint.pth.tar"), checkname="part")
    full, again = (load_checkpoint(p / "checkpoint.pth.tar") for p in (uninterrupted, resumed))
    assert full["ema_updates"] == again["ema_updates"] == 2
    averaged, optimised = full["state_dict"], full["train_state_dict"]
    assert not all(torch.equal(averaged[k], optimised[k]) for k in averaged)
    for key in ("state_dict", "train_state_dict"):
        for name, value in full[key].items():
            torch.testing.assert_close(again[key][name], value, atol=1e-6, rtol=0, msg=f"{key} {name}")
    assert again["last_metrics"] == pytest.approx(full["last_metrics"], abs=1e-6, nan_ok=True)
    test_cli.main(["--in-path", "synthetic", "--split", "val", "--out-dir", str(tmp_path / "scored"),
                   "--ckpt", str(uninterrupted / "checkpoint.pth.tar"), "--workers", "0"])
    scored = json.loads((tmp_path / "scored" / "metrics.json").read_text())["auc/per_image"]
    validated = full["last_metrics"]["auc"]
    assert scored == pytest.approx(validated, abs=1e-4), "test.py scores the validated average"
    plain = load_checkpoint(_run(tmp_path, "--epochs", "2", checkname="plain") / "checkpoint.pth.tar")
    assert abs(plain["last_metrics"]["auc"] - validated) > 1e-3, "validation used the average"


def test_ft_loads_weights_only(tmp_path: Path) -> None:
    source = _run(tmp_path, "--epochs", "1", checkname="source")
    tuned = _run(tmp_path, "--epochs", "3", "--max-iters", "0", "--resume",
                 str(source / "checkpoint.pth.tar"), "--ft", checkname="tuned")
    state = load_checkpoint(tuned / "checkpoint.pth.tar")
    assert (state["epoch"], state["iteration"]) == (1, 0)  # a fresh run, not a continuation
    source_weights = _weights(source)
    assert all(torch.equal(state["state_dict"][k], source_weights[k]) for k in source_weights)


def test_checkpoints_record_the_initialisation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    weights = tmp_path / "renamed.pt"
    renamed_mobilenet_file(weights)
    source = _run(tmp_path, "--epochs", "1", "--pretrained", str(weights), checkname="source")
    record = load_checkpoint(source / "checkpoint.pth.tar")["pretrained"]
    assert record == {"source": f"file {weights}", "path": str(weights), "sha256": sha256_of(weights)}
    out = capsys.readouterr().out
    assert f"initialisation: file {weights}" in out
    assert out.count(f"sha256 {sha256_of(weights)[:12]}") == 2  # at the start and in the summary
    tuned = _run(tmp_path, "--epochs", "1", "--max-iters", "0", "--resume", str(source / "checkpoint.pth.tar"),
                 "--ft", checkname="tuned")
    record = load_checkpoint(tuned / "checkpoint.pth.tar")["pretrained"]
    assert record["source"].startswith(f"fine-tuned from {source / 'checkpoint.pth.tar'} (initialised from "
                                       f"file {weights}")
    none = _run(tmp_path, "--epochs", "1", "--max-iters", "0", "--pretrained", "none", checkname="none")
    assert load_checkpoint(none / "checkpoint.pth.tar")["pretrained"]["source"] == "random init"


class _NaNOnCalls:
    """Wraps the criterion and makes the total loss NaN on the given (1-based) calls."""

    def __init__(self, criterion, calls: set[int]) -> None:
        self.criterion, self.calls, self.count = criterion, calls, 0
        self.needs_embeddings, self.patch_selector = criterion.needs_embeddings, criterion.patch_selector

    def __call__(self, outputs, mask):
        losses = self.criterion(outputs, mask)
        self.count += 1
        if self.count in self.calls:
            losses["total"] = losses["total"] * float("nan")
        return losses

    def for_iteration(self, iteration: int) -> "_NaNOnCalls":
        return self


def _inject_nan(monkeypatch: pytest.MonkeyPatch, calls: set[int]) -> None:
    build = train.CaCLCriterion
    monkeypatch.setattr(train, "CaCLCriterion", lambda config: _NaNOnCalls(build(config), calls))


def _finite(state_dict: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state_dict.values() if v.is_floating_point())


def test_a_non_finite_loss_skips_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _inject_nan(monkeypatch, {2})
    run_dir = _run(tmp_path, "--epochs", "3", "--no-val")
    state = load_checkpoint(run_dir / "checkpoint.pth.tar")
    assert (state["nonfinite"], state["iteration"]) == (1, 3)
    assert _finite(state["state_dict"])


def test_repeated_non_finite_losses_stop_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _inject_nan(monkeypatch, {1, 2, 3})
    with pytest.raises(TrainingDiverged, match="3 steps had a non-finite loss"):
        _run(tmp_path, "--epochs", "5", "--max-nonfinite", "3", "--no-val")
    (checkpoint,) = tmp_path.rglob("checkpoint.pth.tar")  # from epoch 2, before the third NaN
    state = load_checkpoint(checkpoint)
    assert (state["epoch"], state["nonfinite"]) == (2, 2) and _finite(state["state_dict"])


def test_non_finite_weights_are_never_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update that leaves the mask head infinite (with a finite loss): the end-of-epoch save refuses
    and the run stops, so no checkpoint holds the broken weights."""
    build = train.build_trainer

    def corrupting_trainer(*args):
        trainer = build(*args)
        update = trainer.backward_and_step

        def update_then_corrupt(loss: torch.Tensor) -> None:
            update(loss)
            with torch.no_grad():
                trainer.module.mask_head.weight.fill_(float("inf"))

        trainer.backward_and_step = update_then_corrupt
        return trainer

    monkeypatch.setattr(train, "build_trainer", corrupting_trainer)
    with pytest.raises(TrainingDiverged, match="non-finite after epoch 1; not saving"):
        _run(tmp_path, "--epochs", "2", "--no-val")
    assert not list(tmp_path.rglob("*.pth.tar"))


def test_amp_uses_bfloat16_on_cpu_and_channels_last_runs(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    build = train.build_trainer
    monkeypatch.setattr(train, "build_trainer", lambda *a: seen.append(build(*a)) or seen[-1])
    run_dir = _run(tmp_path, "--epochs", "1", "--amp", "--channels-last", "--no-val")
    trainer = seen[0]
    assert isinstance(trainer, AMPTrainer) and trainer.dtype == torch.bfloat16
    assert not trainer.scaler.is_enabled()
    assert trainer.module.backbone.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert load_checkpoint(run_dir / "checkpoint.pth.tar")["scaler"] is None


def test_amp_validates_in_full_precision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training forwards run under bfloat16 autocast, validation forwards do not (bf16 would quantise
    the probabilities the evaluator ranks)."""
    seen_autocast: list[tuple[bool, bool]] = []
    build = train.build_trainer

    def recording_trainer(*args):
        trainer = build(*args)
        trainer.module.register_forward_pre_hook(
            lambda module, inputs: seen_autocast.append((module.training, torch.is_autocast_enabled("cpu"))))
        return trainer

    monkeypatch.setattr(train, "build_trainer", recording_trainer)
    _run(tmp_path, "--epochs", "1", "--amp")
    assert (True, True) in seen_autocast and (False, False) in seen_autocast
    assert (False, True) not in seen_autocast


def test_frozen_backbone_bn_and_head_lr_mult(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--freeze-backbone-bn fixes the backbone's BatchNorm only; --head-lr-mult sets the heads' rate."""
    seen = []
    build = train.build_trainer
    monkeypatch.setattr(train, "build_trainer", lambda *a: seen.append(build(*a)) or seen[-1])
    run_dir = _run(tmp_path, "--epochs", "1", "--no-val", "--freeze-backbone-bn", "--head-lr-mult", "3",
                   "--pretrained", "none")
    trainer = seen[0]
    backbone_bns = [m for m in trainer.module.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    other_bns = [m for name, child in trainer.module.named_children() if name != "backbone"
                 for m in child.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert backbone_bns and all(isinstance(m, FrozenBatchNorm2d) for m in backbone_bns)
    assert other_bns and not any(isinstance(m, FrozenBatchNorm2d) for m in other_bns)
    fresh = build_model("mobilenet", with_projection=True, pretrained="none").state_dict()
    saved = _weights(run_dir)
    backbone_stats = [k for k in saved if k.startswith("backbone") and "running" in k]
    assert backbone_stats and all(torch.equal(saved[k], fresh[k]) for k in backbone_stats)
    decoder_stats = [k for k in saved if k.startswith("decoder") and "running" in k]
    assert any(not torch.equal(saved[k], fresh[k]) for k in decoder_stats)
    multipliers = {group["name"]: group["lr_mult"] for group in trainer.optimizer.param_groups}
    assert multipliers == {"backbone": 1.0, "head": 3.0}  # the schedule scales each group's rate by it


def _event_tags(folder: Path) -> set[str]:
    """Scalar and image tags in a TensorBoard event file (TFRecord framing, Event protos)."""
    from tensorboardX.proto.event_pb2 import Event

    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_contrast_start_iter_trains_the_first_steps_without_the_contrastive_terms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[tuple[set[str], bool]] = []  # (loss terms, whether the model was asked for embeddings)
    step, forward = train.Trainer.step, DeepLab.forward

    def recording_forward(model, image, select=None, embed=True):  # type: ignore[no-untyped-def]
        steps.append((set(), embed and model.training))
        return forward(model, image, select, embed)

    def recording_step(trainer, batch):  # type: ignore[no-untyped-def]
        values = step(trainer, batch)
        steps[-1] = ({k for k in values if k.startswith("loss_")}, steps[-1][1])
        return values

    monkeypatch.setattr(DeepLab, "forward", recording_forward)
    monkeypatch.setattr(train.Trainer, "step", recording_step)
    _run(tmp_path, "--epochs", "3", "--contrast-start-iter", "2", "--no-val")
    assert [embedded for _, embedded in steps] == [False, False, True]
    assert [terms for terms, _ in steps] == [{"loss_mask", "loss_contour"}] * 2 + [
        {"loss_mask", "loss_contour", "loss_contrast", "loss_pivot"}]


def test_tensorboard_logs_every_term_lr_metrics_and_the_grid(tmp_path: Path) -> None:
    tags = _event_tags(_run(tmp_path, "--epochs", "1"))
    for term in ("total", "loss_mask", "loss_contour", "loss_contrast", "loss_pivot", "lr"):
        assert f"train/{term}" in tags
    assert {"val/f1", "val/auc", "val/iou", "val/input_gt_pred_contour"} <= tags
