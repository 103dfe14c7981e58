"""What the training loop needs of a loss (:class:`utils.losses.CaCLCriterion` is one)."""
from __future__ import annotations

from typing import Any, Callable, Protocol

import torch


class Criterion(Protocol):
    """The loss: named terms (``total`` is optimised) from the model's outputs and the masks."""

    def __call__(self, outputs: dict[str, Any], mask: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def patch_selector(self, mask: torch.Tensor) -> Callable[..., Any] | None:
        """Passed to ``model(image, select)``: which patches the model projects (None: all or none)."""

    @property
    def needs_embeddings(self) -> bool:
        """Whether the model must compute the projection heads' embeddings for this loss."""

    def for_iteration(self, iteration: int) -> "Criterion":
        """The loss to optimise at training ``iteration`` (a schedule of its terms; often itself)."""
