"""Distributed helpers: single-process no-ops, torchrun relaunch, device choice, and a real 2-process
gloo run of the Trainer checked against a single process with the same global batch.

The DDP comparison freezes BatchNorm: each DDP rank normalises with its own half of the batch, so with
live BatchNorm the two runs differ by design (SyncBatchNorm, the usual cure, runs only on GPUs). The
contrastive terms are off for the same reason (they pool patches over the local batch), dropout is
off (each rank draws its own masks), and the mask loss is BCE (a per-pixel mean, so the mean of two
half-batch means is the full-batch mean).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from utils import dist as distributed
from utils.checkpoint import load_checkpoint
from utils.device import resolve_device
from utils.dist import DistInfo, reduce_dict, relaunch_command
from utils.errors import UserError

GLOBAL_BATCH, ITERATIONS, SIZE = 4, 2, 64
# float32 sums in another order (DDP averages two half-batch gradients) after 2 SGD steps
STATE_TOLERANCE = 1e-5


def test_single_process_helpers_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.env_dist_info() == DistInfo(0, 0, 1)
    assert distributed.init_distributed("cpu") == DistInfo(0, 0, 1)
    assert not distributed.is_initialized() and distributed.get_world_size() == 1
    values = {"a": torch.tensor(2.0)}
    assert reduce_dict(values) is values
    assert distributed.all_gather_object({"x": 1}) == [{"x": 1}]


def test_env_layout_is_read_from_torchrun_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "8")
    info = distributed.env_dist_info()
    assert (info.rank, info.local_rank, info.world_size, info.is_main) == (5, 1, 8, False)


def test_gpu_ids_relaunch_through_torchrun() -> None:
    command, env = relaunch_command([2, 3], "train.py", ["--gpu-ids", "2,3", "--epochs", "1"])
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc_per_node=2" in command
    assert command[-4:] == ["--gpu-ids", "2,3", "--epochs", "1"]
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_gpu_ids_without_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import train

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="--gpu-ids 0,1 needs CUDA"):
        train.main(["--gpu-ids", "0,1"])


def test_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", False, [], DistInfo()) == torch.device("cpu")
    with pytest.raises(UserError, match="not available"):
        resolve_device("cuda", False, [], DistInfo())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", True, [], DistInfo()) == torch.device("cpu")
    assert resolve_device("auto", False, [], DistInfo(3, 1, 4)) == torch.device("cuda", 1)
    assert resolve_device("cuda", False, [2], DistInfo()) == torch.device("cuda", 2)
    with pytest.raises(UserError, match="--no-cuda"):
        resolve_device("cuda:0", True, [], DistInfo())


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    images = torch.randn(GLOBAL_BATCH * ITERATIONS, 3, SIZE, SIZE, generator=generator)
    masks = torch.zeros(GLOBAL_BATCH * ITERATIONS, 1, SIZE, SIZE)
    for i in range(len(masks)):
        masks[i, :, 8 + 3 * i: 40 + 2 * i, 10 + i: 50 - i] = 1
    return images, masks


def _train(rank: int, world: int) -> dict[str, torch.Tensor]:
    """ITERATIONS steps of the Trainer on this rank's share of each global batch; the final weights."""
    from torch.nn.parallel import DistributedDataParallel

    from modeling import build_model
    from modeling.utils import freeze_bn, param_groups
    from engine.optim import WarmupLR, build_optimizer
    from engine.state import TrainerConfig
    from engine.trainer import Trainer
    from utils.losses import CaCLCriterion, LossConfig

    torch.manual_seed(0)
    model = freeze_bn(build_model("mobilenet", 16, with_projection=False))
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    optimizer = build_optimizer(param_groups(model, 0.01), "sgd", 0.01, momentum=0.9)
    scheduler = WarmupLR(optimizer, "poly", 0.01, total_iters=ITERATIONS)
    if world > 1:
        model = DistributedDataParallel(model, find_unused_parameters=True)
    criterion = CaCLCriterion(LossConfig(loss_type="bce", lambda_contrast=0.0, lambda_pivot=0.0))
    trainer = Trainer(model, criterion, optimizer, scheduler, [], TrainerConfig(epochs=1),
                      torch.device("cpu"), dist_info=DistInfo(rank, rank, world))
    images, masks = _data()
    share = GLOBAL_BATCH // world
    for it in range(ITERATIONS):
        start = it * GLOBAL_BATCH + rank * share
        trainer.model.train()
        assert trainer.step({"image": images[start:start + share], "mask": masks[start:start + share]})
    return {k: v.clone() for k, v in trainer.module.state_dict().items()}


def _worker(rank: int, world: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    info = distributed.init_distributed("cpu")
    assert info == DistInfo(rank, rank, world) and distributed.get_world_size() == world
    reduced = reduce_dict({"r": torch.tensor(float(rank)), "one": torch.tensor(1.0)})
    assert reduced["r"].item() == pytest.approx(sum(range(world)) / world) and reduced["one"].item() == 1.0
    torch.save(_train(rank, world), Path(out) / f"rank{rank}.pt")
    distributed.cleanup_distributed()
    _exit_worker()


def test_ddp_two_processes_match_a_single_process(tmp_path: Path, gloo_store) -> None:
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    single = _train(0, 1)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "DDP ranks hold different weights"
    initial = _initial_weights()
    moved = max((single[k].float() - initial[k].float()).abs().max().item() for k in single)
    assert moved > 100 * STATE_TOLERANCE, "the steps did not change the weights: the test would prove nothing"
    for key in single:
        torch.testing.assert_close(rank0[key], single[key], atol=STATE_TOLERANCE, rtol=0, msg=key)


def _save_worker(rank: int, world: int, out: str) -> None:
    """Rank 1 alone holds an infinite weight; each rank records whether its save() refused."""
    from datetime import timedelta

    import torch.distributed as dist

    from engine.state import TrainerConfig
    from engine.trainer import Trainer, TrainingDiverged

    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    model = torch.nn.Linear(2, 1)
    if rank == 1:
        with torch.no_grad():
            model.weight.fill_(float("inf"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, None, optimizer, None, [], TrainerConfig(epochs=1), torch.device("cpu"),
                      run_dir=Path(out) if rank == 0 else None, dist_info=DistInfo(rank, rank, world))
    try:
        trainer.save(0, None)
        outcome = "saved"
    except TrainingDiverged:
        outcome = "refused"
    (Path(out) / f"rank{rank}.txt").write_text(outcome)
    dist.barrier()  # gloo aborts a rank whose peer tears the group down first
    dist.destroy_process_group()
    _exit_worker()


def _exit_worker() -> None:
    """End a spawned worker without interpreter teardown, where gloo's threads now and then abort the
    process (SIGABRT after a clean destroy_process_group, about one run in thirty under load)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_a_non_finite_model_on_one_rank_stops_every_rank(tmp_path: Path, gloo_store) -> None:
    """The finiteness check before saving is a collective: no rank goes on (and hangs in the next
    collective) while another stops."""
    mp.spawn(_save_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)] == ["refused", "refused"]
    assert not list(tmp_path.glob("*.pth.tar"))


def _initial_weights() -> dict[str, torch.Tensor]:
    from modeling import build_model
    from modeling.utils import freeze_bn

    torch.manual_seed(0)
    return freeze_bn(build_model("mobilenet", 16, with_projection=False)).state_dict()


def test_torchrun_two_cpu_processes_train_save_once_and_validate_each_image_once(tmp_path: Path) -> None:
    """train.py under torchrun (gloo): rank 0 alone writes the run folder; validation covers the odd-sized
    validation set exactly once across the two ranks (no padding duplicates)."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "train.py", "--device", "cpu", "--crop-size", "64", "--base-size", "64",
               "--synthetic-size", "4", "--val-fraction", "0.75", "--batch-size", "2", "--workers", "0", "--epochs", "1",
               "--num-anchors", "64", "--run-dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "synthetic" / "cacl-mobilenet").iterdir()
    state = load_checkpoint(run_dir / "checkpoint.pth.tar")
    assert state["last_metrics"]["images"] == 3
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
    assert result.stdout.count("training summary") == 1
