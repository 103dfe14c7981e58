"""The demo's model: loaded once from a train.py checkpoint and run one request at a time (a lock), through
the functions test.py uses: :func:`~evaluation.runner.to_input`, :func:`~evaluation.inference.predict_batch`
(native resolution, tiled above 1024 px exactly as ``test.py --tile`` by default, with ``test.py --tta``'s
modes) and :func:`~evaluation.runner.score_map` (image-level score and tampered area)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evaluation.inference import TTA_MODES, load_model, predict_batch
from evaluation.runner import ImageScore, score_map, to_input
from utils.checkpoint import load_checkpoint
from utils.errors import UserError, require
from utils.metrics.ranking import DEFAULT_IMAGE_SCORE, DEFAULT_TOP_PERCENT, scorer_name
from utils.provenance import describe_provenance

THRESHOLD = 0.5  # the protocol's fixed threshold (test.py --threshold default)
IMAGE_SCORE = (DEFAULT_IMAGE_SCORE, DEFAULT_TOP_PERCENT)  # test.py's --image-score / --top-percent defaults


@dataclass(frozen=True)
class CheckpointInfo:
    """What the page says about the model: the checkpoint path, its backbone and pretrained source."""

    path: str
    backbone: str
    pretrained: str


@dataclass
class Prediction:
    """One photo's answer: the probability map (float32 (H,W)), its score and the time it took."""

    prob: np.ndarray
    score: ImageScore
    seconds: float


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest ``model_best.pth.tar`` under ``run_dir``; a one-line UserError when there is none."""
    found = sorted(run_dir.glob("**/model_best.pth.tar"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise UserError(f"no --ckpt given and no model_best.pth.tar under {run_dir}/: "
                        "train a model first with `python train.py`, or pass --ckpt PATH")
    return found[-1]


class Predictor:
    """A checkpoint's model on ``device``, predicting with test-time augmentation ``tta`` (a mode of
    :data:`~evaluation.inference.TTA_MODES`); :meth:`predict` is safe to call from several threads."""

    def __init__(self, ckpt: str | Path, device: torch.device, tta: str = "none") -> None:
        require(tta in TTA_MODES, f"--tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
        checkpoint = load_checkpoint(ckpt)
        self.model = load_model(str(ckpt), device, checkpoint)
        self.device = device
        self.tta = tta
        backbone = str(checkpoint["model_config"].get("backbone", "unknown"))
        self.info = CheckpointInfo(str(ckpt), backbone, describe_provenance(checkpoint.get("pretrained")))
        self.scorer = scorer_name(*IMAGE_SCORE)
        self._lock = threading.Lock()

    def predict(self, image: np.ndarray, name: str) -> Prediction:
        """Probability map and score of a uint8 (H,W,3) photo; a second caller waits for the first."""
        with self._lock:
            start = time.perf_counter()
            prob = predict_batch(self.model, to_input([image], self.device), tta=self.tta)[0, 0]
            score = score_map(name, prob, THRESHOLD, *IMAGE_SCORE)
            return Prediction(prob.cpu().numpy(), score, time.perf_counter() - start)
