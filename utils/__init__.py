"""Shared training/evaluation code: losses, metrics, checkpoints, engine helpers."""
