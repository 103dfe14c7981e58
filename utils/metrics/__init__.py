"""Pixel-level and image-level metrics for manipulation localisation, one implementation for train.py
validation and test.py. ``from utils.metrics import PixelEvaluator`` is the entry point; the protocols
and key names are documented in :mod:`utils.metrics.protocols`."""
from utils.metrics.evaluator import PixelEvaluator
from utils.metrics.protocols import ROW_COLUMNS, SUMMARY_KEYS, summarize

__all__ = ["PixelEvaluator", "ROW_COLUMNS", "SUMMARY_KEYS", "summarize"]
