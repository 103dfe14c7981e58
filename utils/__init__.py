"""The bottom layer: errors, registries, processes and devices, the contour band, checkpoints, provenance,
losses and metrics. Imports nothing else of the project."""
