"""Reading images and masks robustly: every failure is a one-line DataError naming the file.

Images come back as 8-bit RGB PIL images with EXIF rotation applied; grey, palette, RGBA (alpha
dropped), CMYK and 16-bit files are converted. Masks come back as bool arrays, ``True`` = tampered,
binarised at 128 (``value >= 128``) after conversion to one 8-bit channel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from utils.errors import DataError

MASK_THRESHOLD = 128
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_EXIF_ORIENTATION = 0x0112


def _open(path: str | Path) -> Image.Image:
    """Open and fully decode ``path`` (so truncation is detected here, not later)."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except _READ_ERRORS as error:
        raise DataError(f"{path}: cannot read image ({error})") from None
    return img


def _to_8bit(img: Image.Image) -> Image.Image:
    """Map 16/32-bit integer and float images onto 0..255 ('L'), keeping other modes."""
    if img.mode in _SIXTEEN_BIT_MODES:
        pixels = np.asarray(img, dtype=np.float64)
        top = 65535.0 if pixels.max(initial=0) > 255 or img.mode != "I" else 255.0
        return Image.fromarray(np.clip(np.rint(pixels / top * 255.0), 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        pixels = np.asarray(img, dtype=np.float64)
        top = 1.0 if pixels.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(np.rint(pixels / top * 255.0), 0, 255).astype(np.uint8), "L")
    return img


def _decode(path: str | Path, mode: str) -> Image.Image:
    img = _open(path)
    try:
        img = ImageOps.exif_transpose(img)
        return _to_8bit(img).convert(mode)
    except _READ_ERRORS as error:
        raise DataError(f"{path}: cannot convert image ({error})") from None


def read_image(path: str | Path) -> Image.Image:
    """Read ``path`` as an 8-bit RGB PIL image (EXIF rotation applied; alpha dropped)."""
    return _decode(path, "RGB")


def read_mask(path: str | Path, invert: bool = False) -> np.ndarray:
    """Read a mask as a bool (H,W) array: grey value >= 128 is tampered (``invert``: < 128 is)."""
    binary = np.asarray(_decode(path, "L")) >= MASK_THRESHOLD
    return ~binary if invert else binary


def read_rgb_array(path: str | Path) -> np.ndarray:
    """Read ``path`` as a uint8 (H,W,3) array, for colour-coded masks."""
    return np.asarray(_decode(path, "RGB"))


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) after EXIF rotation, read from the header only (fast; no full decode)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except _READ_ERRORS as error:
        raise DataError(f"{path}: cannot read image header ({error})") from None
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def verify_readable(path: str | Path) -> None:
    """Fully decode ``path``; raise DataError if it is corrupt or truncated."""
    _open(path).close()
