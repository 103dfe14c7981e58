"""Joint image/mask transforms, normalisation constants and robustness perturbations."""
