"""Columbia Uncompressed Image Splicing Detection, official layout (root = ``CACL_COLUMBIA_ROOT``)::

    4cam_splc/<name>.tif                       spliced images
    4cam_splc/edgemask/<name>_edgemask.jpg     colour-coded region masks
    4cam_auth/<name>.tif                       authentic images

The edge masks paint the region from each camera in its own colour: the spliced region green, the
host camera's region red (with the splicing boundary drawn between them). Binary rule (tested):
tampered = green channel >= 128 and red channel < 128; see :mod:`dataloaders.mask_formats`.
"""
from __future__ import annotations

from pathlib import Path

from dataloaders.config import DataConfig
from dataloaders.datasets.common import list_images, report_unmatched
from dataloaders.datasets.registry import DATASETS
from dataloaders.records import Record
from utils.errors import DataError

MASK_SUFFIX = "_edgemask"


@DATASETS.register("columbia")
def list_columbia(root: str, config: DataConfig = DataConfig()) -> list[Record]:
    """Spliced images paired with ``edgemask/<stem>_edgemask.*``, then ``4cam_auth`` images."""
    base = Path(root)
    spliced = list_images(base / "4cam_splc")
    if not spliced:
        raise DataError(f"{base / '4cam_splc'}: no images found (Columbia layout: 4cam_splc/, 4cam_auth/)")
    masks = {p.stem: p for p in list_images(base / "4cam_splc" / "edgemask")}
    records, unmatched = [], []
    for image in spliced:
        mask = masks.get(image.stem + MASK_SUFFIX)
        if mask is None:
            unmatched.append((str(image), f"no edgemask/{image.stem}{MASK_SUFFIX}.jpg"))
        else:
            records.append(Record(str(image), str(mask), mask_format="columbia"))
    report_unmatched("columbia", len(records), unmatched)
    return records + [Record(str(p), None) for p in list_images(base / "4cam_auth")]
