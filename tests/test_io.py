"""dataloaders.io: image/mask conversion and the bad-input matrix (each case names the file)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dataloaders.io import image_size, read_image, read_mask, verify_readable
from utils.errors import DataError


def _rgb(h: int = 12, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_png_roundtrip(tmp_path):
    pixels = _rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(read_image(tmp_path / "a.png")), pixels)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    grey = _rgb()[..., 0]
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = np.asarray(read_image(tmp_path / "g.png"))
    assert out.shape == grey.shape + (3,)
    for channel in range(3):
        assert np.array_equal(out[..., channel], grey)


def test_rgba_drops_alpha(tmp_path):
    pixels = _rgb()
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(read_image(tmp_path / "a.png")), pixels)


def test_cmyk_converted_to_rgb(tmp_path):
    pixels = _rgb()
    cmyk = np.dstack([255 - pixels, np.zeros(pixels.shape[:2], np.uint8)])  # K = 0: R = 255 - C
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    assert np.array_equal(np.asarray(read_image(tmp_path / "c.tif")), pixels)


def test_16bit_tiff_scaled_to_8bit(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.tif")
    assert Image.open(tmp_path / "d.tif").mode == "I;16"
    out = np.asarray(read_image(tmp_path / "d.tif"))[..., 0]
    assert out.tolist() == [[0, 1, 128, 255]]


def test_exif_rotated_jpeg_is_upright(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = np.asarray(read_image(tmp_path / "r.jpg")).astype(int)
    expected = np.rot90(pixels, k=-1).astype(int)  # clockwise: the left half ends up on top
    assert out.shape == expected.shape == (40, 20, 3)
    assert np.abs(out - expected).mean() < 8
    assert image_size(tmp_path / "r.jpg") == (40, 20)


def test_truncated_jpeg_names_the_file(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(_rgb(64, 64)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(DataError, match="cut.jpg"):
        read_image(path)
    with pytest.raises(DataError, match="cut.jpg"):
        verify_readable(path)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_tiff_and_missing_file(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage that is not a TIFF directory")
    with pytest.raises(DataError, match="bad.tif"):
        read_image(bad)
    with pytest.raises(DataError, match="nothere.png: file not found"):
        read_mask(tmp_path / "nothere.png")


def test_mask_threshold_at_128_and_inversion(tmp_path):
    values = np.array([[0, 127, 128, 255]], np.uint8)
    Image.fromarray(values, "L").save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, True, True]]
    assert read_mask(tmp_path / "m.png", invert=True).tolist() == [[True, True, False, False]]


def test_rgb_and_one_bit_masks(tmp_path):
    region = np.zeros((8, 8), bool)
    region[2:5, 3:7] = True
    Image.fromarray(np.repeat(region[..., None] * 255, 3, 2).astype(np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(region).save(tmp_path / "bits.png")  # mode "1"
    assert np.array_equal(read_mask(tmp_path / "rgb.png"), region)
    assert np.array_equal(read_mask(tmp_path / "bits.png"), region)


@pytest.mark.parametrize("value", [0, 255])
def test_empty_and_full_masks_are_valid(tmp_path, value):
    Image.fromarray(np.full((5, 6), value, np.uint8)).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.shape == (5, 6) and mask.all() == bool(value) and mask.any() == bool(value)
