"""Full-resolution probability maps from a CaCL-Net model, in bounded memory.

Two ways to meet the network (``--resize``): resize every image to ``resize``² (the authors' protocol)
and the probability map back to the image size, or feed the native resolution. At native resolution an
image larger than ``tile`` on a side is cut into overlapping tiles whose predictions are blended with a
linear ramp over the overlap, so seams vanish and a 4000×3000 photo needs one tile's activations plus
two float32 maps of the image size. Test-time augmentation (``--tta hflip`` or ``flips``) averages the map
of the image with the mirrored-back maps of its mirror images.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from modeling import build_model
from utils.checkpoint import load_checkpoint, load_model_weights, saved_model_config
from utils.device import autocast_dtype
from utils.errors import CheckpointError


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` (float16 on CUDA, bfloat16 on CPU), or a no-op."""
    return torch.autocast(device_type=device.type, dtype=autocast_dtype(device), enabled=enabled)


@torch.inference_mode()
def forward_prob(model: torch.nn.Module, images: torch.Tensor, amp: bool = False) -> torch.Tensor:
    """Sigmoid of the mask logits for a normalised (B,3,H,W) batch, as float32 (B,1,H,W)."""
    with autocast(images.device, amp):
        logits = model(images)["mask"]
    return torch.sigmoid(logits.float())


def _ramp(length: int, overlap: int, device: torch.device) -> torch.Tensor:
    """1-D blending weights: rising linearly over ``overlap`` pixels at each end, 1 in the middle."""
    position = torch.arange(length, device=device, dtype=torch.float32)
    edge = torch.minimum(position + 1, length - position) / max(overlap, 1)
    return edge.clamp(max=1.0)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


@torch.inference_mode()
def predict_tiled(model: torch.nn.Module, image: torch.Tensor, tile: int, overlap: int, amp: bool = False,
                  tiles_per_batch: int = 1) -> torch.Tensor:
    """(1,H,W) probabilities of one normalised (3,H,W) image from overlapping ``tile``² windows.

    The two accumulators stay on the image's device; only ``tiles_per_batch`` windows are in the network
    at once, which bounds peak memory independently of the image size.
    """
    _, height, width = image.shape
    th, tw = min(tile, height), min(tile, width)
    weight = _ramp(th, overlap, image.device)[:, None] * _ramp(tw, overlap, image.device)[None, :]
    total = torch.zeros(height, width, device=image.device)
    norm = torch.zeros(height, width, device=image.device)
    boxes = [(y, x) for y in tile_starts(height, th, overlap) for x in tile_starts(width, tw, overlap)]
    for i in range(0, len(boxes), tiles_per_batch):
        chunk = boxes[i:i + tiles_per_batch]
        windows = torch.stack([image[:, y:y + th, x:x + tw] for y, x in chunk])
        probs = forward_prob(model, windows, amp)[:, 0]
        for (y, x), prob in zip(chunk, probs):
            total[y:y + th, x:x + tw] += prob * weight
            norm[y:y + th, x:x + tw] += weight
    return (total / norm).unsqueeze(0)


TTA_VIEWS: dict[str, tuple[tuple[int, ...], ...]] = {
    "none": ((),),
    "hflip": ((), (-1,)),
    "flips": ((), (-1,), (-2,), (-2, -1)),
}
"""Test-time augmentation modes: the image axes each view mirrors (``()`` is the image itself)."""
TTA_MODES = tuple(TTA_VIEWS)


def _mirrored(tensor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``tensor`` mirrored along ``dims``; itself, not a copy, when there are none."""
    return tensor.flip(dims) if dims else tensor


@torch.inference_mode()
def predict_view(model: torch.nn.Module, images: torch.Tensor, resize: int | None = None, tile: int = 1024,
                 overlap: int | None = None, amp: bool = False) -> torch.Tensor:
    """(B,1,H,W) probabilities for a normalised (B,3,H,W) batch of same-size images at their own size.

    ``resize``: run the network at ``resize``² and resize the map back (bilinear). Otherwise native
    resolution, tiled (overlap ``tile // 4`` by default) when a side exceeds ``tile``.
    """
    height, width = images.shape[-2:]
    if resize:
        small = F.interpolate(images, size=(resize, resize), mode="bilinear", align_corners=False)
        prob = forward_prob(model, small, amp)
        return F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    if max(height, width) <= tile:
        return forward_prob(model, images, amp)
    overlap = tile // 4 if overlap is None else overlap
    return torch.stack([predict_tiled(model, image, tile, overlap, amp) for image in images])


@torch.inference_mode()
def predict_batch(model: torch.nn.Module, images: torch.Tensor, resize: int | None = None, tile: int = 1024,
                  overlap: int | None = None, amp: bool = False, tta: str = "none") -> torch.Tensor:
    """:func:`predict_view` of the batch, averaged over the views of the test-time augmentation ``tta``.

    ``hflip`` adds the mirrored batch, ``flips`` the horizontal, vertical and double mirror (two and four
    times the cost). Each view's map is mirrored back before the mean; the model is not mirror-symmetric,
    so the views disagree where it is unsure.
    """
    if tta not in TTA_VIEWS:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    views = TTA_VIEWS[tta]
    return sum(_mirrored(predict_view(model, _mirrored(images, dims), resize, tile, overlap, amp), dims)
               for dims in views) / len(views)


def load_model(path: str, device: torch.device, state: dict | None = None) -> torch.nn.Module:
    """Rebuild the network a train.py checkpoint describes (without projection heads) and load its weights.

    ``state`` is the checkpoint already read from ``path`` (read here when None). A missing, corrupt or
    foreign file, or weights of another architecture, raise CheckpointError.
    """
    state = load_checkpoint(path) if state is None else state
    if not isinstance(state["model_config"], dict):
        raise CheckpointError(f"{path}: 'model_config' is not a dict of build_model arguments")
    config = saved_model_config(state)
    config.pop("with_projection", None)
    config.pop("pretrained", None)
    try:
        model = build_model(**config, with_projection=False)
    except TypeError as error:
        raise CheckpointError(f"{path}: model_config does not fit build_model ({error})") from None
    load_model_weights(model, state, path)
    return model.to(device).eval()
