"""Uploaded photos: written under a random name in the server's temp folder, checked (empty file, pixel
limit from the header alone), decoded with :func:`dataloaders.io.read_image` (as test.py reads images:
EXIF rotation applied, converted to 8-bit RGB) and deleted, whatever happens."""
from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
from werkzeug.datastructures import FileStorage

from dataloaders.io import image_size, read_image
from utils.errors import DataError, UserError

MAX_NAME = 120
FORMATS = "JPEG, PNG, TIFF or WebP"


class UploadError(UserError):
    """An upload the demo refuses; ``status`` is the HTTP status of the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def display_name(filename: str | None) -> str:
    """The file name the browser sent, for messages only: last path part, no control characters, at most
    :data:`MAX_NAME` characters; ``upload`` when nothing is left."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return cleaned[:MAX_NAME] or "upload"


def _check_pixels(path: Path, name: str, max_pixels: int) -> None:
    height, width = image_size(path)
    if height * width > max_pixels:
        raise UploadError(f"{name}: {width}×{height} is {height * width / 1e6:.1f} megapixels, above this "
                          f"server's limit of {max_pixels / 1e6:.1f} (start it with a larger --max-pixels)",
                          413)


def read_upload(upload: FileStorage, folder: Path, max_pixels: int) -> np.ndarray:
    """The uploaded photo as uint8 (H,W,3); :class:`UploadError` (naming the upload) when it is empty, too
    large or not a readable image. The temp file never outlives this call."""
    name = display_name(upload.filename)
    handle, temp = tempfile.mkstemp(dir=folder, suffix=".upload")
    os.close(handle)
    path = Path(temp)
    try:
        upload.save(path)
        if path.stat().st_size == 0:
            raise UploadError(f"{name}: the file is empty (0 bytes)")
        _check_pixels(path, name, max_pixels)
        return np.asarray(read_image(path))
    except DataError as error:
        message = str(error).replace(str(path), name)
        raise UploadError(f"{message}; is it a complete {FORMATS} image?") from None
    finally:
        path.unlink(missing_ok=True)
