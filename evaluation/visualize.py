"""What a person looks at: overlays of predicted regions on the photo, prediction files, and the
input | ground truth | predicted mask | predicted contour grid that train.py logs to TensorBoard."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataloaders.transforms.normalize import denormalize
from utils.contour import contour_band

TINT = (255, 40, 40)
CONTOUR = (255, 230, 0)


def overlay(image: np.ndarray, mask: np.ndarray, contour_width: int, alpha: float = 0.45) -> np.ndarray:
    """uint8 (H,W,3) ``image`` tinted red where bool ``mask`` is set, with the region's contour in yellow
    (the inner half of the band of half-width ``contour_width``)."""
    out = image.astype(np.float32)
    tint = np.array(TINT, dtype=np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * tint
    band = contour_band(torch.from_numpy(mask).float(), width=contour_width).numpy() > 0
    out[band & mask] = CONTOUR  # the inner half of the band, so the line sits on the region's edge
    return out.round().astype(np.uint8)


def prob_to_uint16(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as uint16 ``round(prob × 65535)``: the pixels of a ``_prob.png``."""
    return np.rint(np.clip(prob, 0, 1) * 65535).astype(np.uint16)


def save_prediction(prob: np.ndarray, image: np.ndarray, threshold: float, out_dir: str | Path,
                    stem: str, contour_width: int) -> None:
    """Write ``<stem>_prob.png`` (16-bit probability × 65535), ``<stem>_mask.png`` (0/255) and
    ``<stem>_overlay.png`` (outline of half-width ``contour_width``) under ``out_dir``."""
    out_dir = Path(out_dir)
    (out_dir / stem).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(prob_to_uint16(prob)).save(out_dir / f"{stem}_prob.png")
    mask = prob >= threshold
    Image.fromarray((mask * 255).astype(np.uint8)).save(out_dir / f"{stem}_mask.png")
    Image.fromarray(overlay(image, mask, contour_width)).save(out_dir / f"{stem}_overlay.png")


def read_prob_png(path: str | Path) -> np.ndarray:
    """Read a probability map written by :func:`save_prediction` back as float32 in [0, 1]."""
    return np.asarray(Image.open(path), dtype=np.float32) / 65535.0


def image_grid(images: torch.Tensor, masks: torch.Tensor, probs: torch.Tensor, contour_probs: torch.Tensor,
               threshold: float = 0.5) -> torch.Tensor:
    """(3, B*H, 4*W) float grid in [0, 1]: rows are samples, columns input | GT | pred mask | pred contour.

    ``images`` are normalised (B,3,H,W); ``masks``, ``probs`` and the contour head's ``contour_probs``
    are (B,1,H,W).
    """
    pred = (probs >= threshold).float()
    grey = [t.float().expand(-1, 3, -1, -1) for t in (masks, pred, contour_probs)]
    columns = [denormalize(images.float())] + grey
    rows = torch.cat([c.detach().cpu() for c in columns], dim=3)
    return torch.cat(list(rows), dim=1).clamp(0, 1)
