"""The test.py loop: load samples (workers), batch same-size images, predict at full resolution, then
score against the ground truth and/or write the prediction files. Images without ground truth also get
an image-level score and their tampered-area fraction (``scores.csv``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataloaders.transforms.normalize import normalize
from evaluation.config import EvalConfig
from evaluation.inference import predict_batch
from evaluation.inputs import EvalDataset
from evaluation.visualize import save_prediction
from utils.contour import CONTOUR_WIDTH
from utils.metrics import PixelEvaluator
from utils.metrics.ranking import map_score


@dataclass
class ImageScore:
    """One image without ground truth: image-level score and fraction of pixels with ``prob >= threshold``."""

    name: str
    score: float
    tampered_fraction: float


@dataclass
class RunStats:
    """What a pass saw besides the metrics: images predicted, unreadable files skipped and, without
    ground truth, each image's :class:`ImageScore`."""

    predicted: int = 0
    skipped: list[str] = field(default_factory=list)
    scores: list[ImageScore] = field(default_factory=list)


def _first(batch: list[dict]) -> dict:
    return batch[0]


def same_size_batches(loader: DataLoader, batch_size: int, stats: RunStats) -> Iterator[list[dict]]:
    """Group consecutive samples of equal size into lists of at most ``batch_size``; count bad files."""
    pending: list[dict] = []
    for sample in loader:
        if sample["error"] is not None:
            stats.skipped.append(sample["error"])
            continue
        if pending and (len(pending) == batch_size or pending[0]["image"].shape != sample["image"].shape):
            yield pending
            pending = []
        pending.append(sample)
    if pending:
        yield pending


def to_input(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Normalised (B,3,H,W) float batch on ``device`` from same-size uint8 (H,W,3) images."""
    batch = torch.from_numpy(np.stack(images)).to(device)
    return normalize(batch.permute(0, 3, 1, 2).float() / 255.0)


def score_map(name: str, prob: torch.Tensor, threshold: float, mode: str = "max",
              top_percent: float = 1.0) -> ImageScore:
    """The :class:`ImageScore` of one (H,W) probability map; ``mode``/``top_percent`` as ``--image-score``."""
    fraction = float((prob >= threshold).float().mean())
    return ImageScore(name, map_score(prob, mode, top_percent), fraction)


def run_pass(model: torch.nn.Module, dataset: EvalDataset, config: EvalConfig,
             evaluator: PixelEvaluator | None, save_dir: Path | None, desc: str = "test") -> RunStats:
    """Predict every sample of ``dataset``; feed ``evaluator`` (when GT is known) and write files."""
    device = torch.device(config.device)
    loader = DataLoader(dataset, batch_size=1, collate_fn=_first, num_workers=config.data.workers)
    stats = RunStats()
    with tqdm(total=len(dataset), desc=desc, unit="img", dynamic_ncols=True) as progress:
        for samples in same_size_batches(loader, config.data.eval_batch_size, stats):
            images = to_input([s["image"] for s in samples], device)
            probs = predict_batch(model, images, config.resize or None, config.tile, amp=config.amp,
                                  tta=config.tta)
            if evaluator is not None:
                masks = torch.from_numpy(np.stack([s["mask"] for s in samples]))
                evaluator.process(probs, masks, names=[s["name"] for s in samples])
            else:
                for s, prob in zip(samples, probs[:, 0]):
                    stats.scores.append(score_map(s["name"], prob, config.threshold, config.image_score,
                                                  config.top_percent))
            if save_dir is not None:
                for sample, prob in zip(samples, probs[:, 0].cpu().numpy()):
                    stem = str(Path(sample["name"]).with_suffix(""))
                    save_prediction(prob, sample["image"], config.threshold, save_dir, stem, CONTOUR_WIDTH)
            stats.predicted += len(samples)
            progress.update(len(samples))
    return stats
