"""Helpers shared by the dataset listers: finding images, name corrections, reporting unmatched files."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from utils.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (extension case-insensitive), sorted by name; [] if absent."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_name_corrections(xlsx: Path) -> dict[str, str]:
    """Original → corrected image file names from a CASIA ``FileNameCorrection.xlsx`` (any sheet: every
    row whose 2nd and 3rd cells are both image file names); {} when the file is absent."""
    if not xlsx.is_file():
        return {}
    import openpyxl

    try:
        book = openpyxl.load_workbook(xlsx, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged workbook
        raise DataError(f"{xlsx}: cannot read name corrections ({error})") from None
    corrections = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_col=2, max_col=3, values_only=True):
            if all(isinstance(c, str) and Path(c.strip()).suffix.lower() in IMAGE_EXTENSIONS for c in row):
                corrections[row[0].strip()] = row[1].strip()
    book.close()
    return corrections


def report_unmatched(dataset: str, paired: int, unmatched: Sequence[tuple[str, str]]) -> None:
    """Print how many tampered images were paired and list every unmatched file with the reason."""
    print(f"{dataset}: {paired} tampered image(s) paired with a mask, {len(unmatched)} unmatched file(s)")
    for path, reason in unmatched:
        print(f"  unmatched: {path} ({reason})")
