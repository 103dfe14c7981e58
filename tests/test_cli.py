"""train.py's command line: --help documents every flag with its default; booleans are real switches."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.args import build_parser, parse_config, parse_gpu_ids
from utils.errors import UserError
from utils.losses import CaCLCriterion

ROOT = Path(__file__).resolve().parents[1]
ISSUE_FLAGS = (
    "--backbone --out-stride --dataset --workers --base-size --crop-size --sync-bn --freeze-bn --loss-type "
    "--epochs --start_epoch --batch-size --test-batch-size --lr --lr-scheduler --momentum --weight-decay "
    "--nesterov --no-cuda --gpu-ids --seed --resume --checkname --ft --eval-interval --no-val "
    "--lambda-contrast --lambda-pivot --lambda-contour --temperature --contour-width --contour-patches "
    "--num-anchors --hard-ratio --embed-dim --pretrained --device --amp --channels-last --val-dataset "
    "--max-iters"
).split()
SWITCHES = ("sync_bn", "freeze_bn", "freeze_backbone_bn", "nesterov", "no_cuda", "ft", "no_val", "amp",
            "channels_last")


def test_help_lists_every_flag_with_its_default() -> None:
    result = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for flag in ISSUE_FLAGS:
        assert flag in result.stdout, flag
    entries = _help_entries(result.stdout)
    documented = [action for action in build_parser()._actions if action.help and action.dest != "help"]
    assert len(documented) >= len(ISSUE_FLAGS)
    for action in documented:
        assert "(default:" in entries[action.option_strings[0]], action.option_strings[0]


def _help_entries(text: str) -> dict[str, str]:
    """``--flag`` → its whole (possibly wrapped) entry in the --help text."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("  -"):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif current is not None and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def test_switches_are_off_by_default_and_on_when_given() -> None:
    defaults = parse_config([]).to_flags()
    assert not any(defaults[name] for name in SWITCHES if name not in ("ft", "amp", "channels_last"))
    assert defaults["amp"] and defaults["channels_last"]  # the fast CPU default; --no-amp/--no-channels-last
    run = parse_config(["--no-amp", "--no-channels-last"]).run
    assert not run.amp and not run.channels_last
    given = build_parser().parse_args(["--sync-bn", "--freeze-bn", "--freeze-backbone-bn", "--nesterov",
                                       "--no-cuda", "--no-val",
                                       "--amp", "--channels-last", "--resume", "x.pth.tar", "--ft"])
    assert all(getattr(given, name) for name in SWITCHES)  # parsed only: train_config rejects this mix
    assert parse_config(["--channels-last", "--no-channels-last"]).run.channels_last is False


@pytest.mark.parametrize("flag", ["--sync-bn", "--freeze-bn", "--amp", "--nesterov"])
def test_a_switch_takes_no_value(flag: str, capsys: pytest.CaptureFixture) -> None:
    """``--sync-bn False`` must not silently mean True (the ``type=bool`` trap)."""
    with pytest.raises(SystemExit) as error:
        parse_config([flag, "False"])
    assert error.value.code == 2
    assert "unrecognized arguments: False" in capsys.readouterr().err


def test_derived_defaults_and_checks() -> None:
    config = parse_config(["--backbone", "resnet", "--batch-size", "6", "--gpu-ids", "0"])
    assert config.run.checkname == "cacl-resnet" and config.data.batch_size == 6
    assert config.run.gpu_ids == (0,)
    assert parse_config(["--start-epoch", "3"]).optim.start_epoch == 3
    assert parse_gpu_ids("0, 2") == (0, 2) and parse_gpu_ids(None) == ()
    with pytest.raises(UserError, match="--gpu-ids"):
        parse_gpu_ids("0,a")
    with pytest.raises(UserError, match="^ft needs resume"):
        parse_config(["--ft"])
    with pytest.raises(UserError, match="^epochs must be >= 1, got 0$"):
        parse_config(["--epochs", "0"])
    with pytest.raises(UserError, match="^freeze_bn and sync_bn exclude each other"):
        parse_config(["--freeze-bn", "--sync-bn"])
    assert parse_config(["--freeze-bn"]).model.freeze_bn and parse_config(["--sync-bn"]).model.sync_bn


def test_loss_flags_build_the_criterion_with_the_methods_defaults() -> None:
    criterion = CaCLCriterion(parse_config(["--loss-type", "bce"]).loss)
    reference = CaCLCriterion()
    assert criterion.weights == reference.weights
    assert (criterion.temperature, criterion.num_anchors, criterion.contour_patches) == (
        reference.temperature, reference.num_anchors, reference.contour_patches)
    without_contrast = parse_config(["--lambda-contrast", "0", "--lambda-pivot", "0"])
    assert CaCLCriterion(without_contrast.loss).needs_embeddings is False


def _script(script: str, ngpus: str, python: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NGPUS": ngpus, "PYTHON": python, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", f"scripts/{script}", *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("script, ngpus, expected", [
    ("train_casia.sh", "1", "--dataset casia2 --val-dataset casia1"),
    ("train_nist.sh", "2", "--dataset nist16"),
    ("train_coverage.sh", "1", "--dataset coverage"),
    ("train_columbia.sh", "1", "--dataset columbia"),
    ("train_synthetic.sh", "4", "--dataset synthetic"),
])
def test_scripts_build_the_recipe_command(script: str, ngpus: str, expected: str) -> None:
    """Each script runs train.py with the method's recipe, torchrun when NGPUS > 1, and extra flags last
    (``PYTHON=echo`` prints the command instead of running it)."""
    result = _script(script, ngpus, "echo", "--epochs", "3")
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip()
    launcher = f"-m torch.distributed.run --standalone --nproc_per_node {ngpus} train.py"
    assert command.startswith(launcher if ngpus != "1" else "train.py"), command
    assert "--optimizer sgd --lr 0.007" in command and expected in command
    assert command.endswith("--epochs 3")


def test_the_casia_script_trains_without_random_rescaling_and_averages_the_weights() -> None:
    """The CASIA recipe overrides the shared 0.5-1.5 scale range (the last flag wins in argparse) and
    validates the weight average."""
    words = _script("train_casia.sh", "1", "echo").stdout.split()
    def last_value(flag: str) -> str:
        return words[len(words) - words[::-1].index(flag)]

    assert {flag: last_value(flag) for flag in ("--min-scale", "--max-scale", "--ema-decay")} == {
        "--min-scale": "1.0", "--max-scale": "1.0", "--ema-decay": "0.999"}


def test_a_script_really_runs_train_py() -> None:
    result = _script("train_casia.sh", "1", sys.executable, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: train.py" in result.stdout


def _casia1_tree(tmp_path: Path, train_list: str) -> tuple[Path, Path]:
    """A split folder whose train.txt is ``train_list`` and a CASIA v1 root holding the photo Au/Au_a.jpg."""
    split, root = tmp_path / "split", tmp_path / "casia1"
    split.mkdir()
    (split / "train.txt").write_text(train_list)
    (root / "Au").mkdir(parents=True)
    (root / "Au" / "Au_a.jpg").write_bytes(b"")
    return split, root


def test_the_casia1_cpu_recipe_flags(tmp_path: Path) -> None:
    """scripts/_casia1_common.sh (reproduce_casia1_cpu.sh, ablation.sh casia1): no rescaling, the weight
    average, as many synthetic samples as real ones, and only the train side's authentic photos as synthetic
    material."""
    split, root = _casia1_tree(tmp_path, "Au/Au_a.jpg -\nTp/Sp_b.jpg Gt/Sp_b.png\n")
    command = (f'source scripts/_casia1_common.sh && casia1_flags "{tmp_path / "run"}" '
               '&& echo "${CASIA1_FLAGS[@]}"')
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "CACL_CASIA1_ROOT": str(root), "SPLIT": str(split)})
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    values = {flag: words[words.index(flag) + 1] for flag in ("--min-scale", "--max-scale", "--ema-decay",
                                                              "--mix-synthetic", "--list")}
    assert values == {"--min-scale": "1.0", "--max-scale": "1.0", "--ema-decay": "0.999",
                      "--mix-synthetic": "1.0", "--list": f"{split}/train.txt"}
    assert [p.name for p in (tmp_path / "run" / "casia1_au_train").iterdir()] == ["Au_a.jpg"]
    parse_config(words)  # every flag is one train.py knows


def test_the_casia1_reproduce_script_defaults_to_13_epochs_at_half_the_synthetic_share_and_flip_tta(
        tmp_path: Path) -> None:
    """scripts/reproduce_casia1_cpu.sh's schedule (docs/RESULTS.md, eighth round): MIX 0.5, 13 epochs, and its
    evaluations' test-time augmentation (tenth round): hflip. A stub ``python`` on PATH prints each command
    line; it succeeds for train.py and fails for the first test.py, which stops the script there."""
    split, root = _casia1_tree(tmp_path, "Au/Au_a.jpg -\n")
    (tmp_path / "run" / "list" / "casia1-joint" / "experiment_0").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "python"
    stub.write_text('#!/usr/bin/env bash\necho "$@"\n[[ $1 == train.py ]] || exit 3\n')
    stub.chmod(0o755)
    env = {**os.environ, "CACL_CASIA1_ROOT": str(root), "SPLIT": str(split), "RUN_DIR": str(tmp_path / "run"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "scripts/reproduce_casia1_cpu.sh"], cwd=ROOT, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 3, result.stderr
    train, test = (line.split() for line in result.stdout.splitlines())
    assert train[0] == "train.py"
    assert train[train.index("--mix-synthetic") + 1] == "0.5"
    assert train[train.index("--epochs") + 1] == "13"
    assert test[0] == "test.py" and test[test.index("--tta") + 1] == "hflip"
