"""evaluation.robustness: the --robust list parses into sized-preserving, reproducible perturbations."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from evaluation.robustness import parse_perturbations
from utils.errors import UserError


def test_parse_list_in_order():
    perts = parse_perturbations("jpeg:50,90 blur:3 noise:3,7 resize:0.5")
    assert [p.label for p in perts] == ["jpeg:50", "jpeg:90", "blur:3", "noise:3", "noise:7", "resize:0.5"]
    assert [p.label for p in parse_perturbations(["jpeg:50", "blur:3"])] == ["jpeg:50", "blur:3"]


def test_perturbations_keep_size_change_pixels_and_are_reproducible():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    for pert in parse_perturbations("jpeg:50 blur:5 noise:7 resize:0.5"):
        out = pert.fn(image)
        assert out.size == image.size
        assert not np.array_equal(np.asarray(out), np.asarray(image)), pert.label
        assert np.array_equal(np.asarray(pert.fn(image)), np.asarray(out)), pert.label


@pytest.mark.parametrize("spec,match", [("jpg:50", "did you mean 'jpeg'"), ("jpeg", "NAME:LEVEL"),
                                        ("jpeg:abc", "bad level"), ("blur:4", "bad level"),
                                        ("jpeg:500", "bad level")])
def test_bad_lists_are_one_line_errors(spec, match):
    with pytest.raises(UserError, match=match):
        parse_perturbations(spec)
