#!/usr/bin/env bash
# The method's recipe on the embedded synthetic tampering data (4000 fresh 512-px images per epoch);
# SYNTHETIC_SOURCE=/path/to/CASIA2/Au tampers your own authentic photos instead of the bundled ones.
# (Plain `python train.py` is the quick CPU variant of this run.)
#   NGPUS=2 bash scripts/train_synthetic.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
source_flag=()
if [[ -n "${SYNTHETIC_SOURCE:-}" ]]; then
  source_flag=(--synthetic-source "$SYNTHETIC_SOURCE")
fi
run_train --dataset synthetic "${source_flag[@]}" --synthetic-size 4000 --epochs 50 \
  --checkname synthetic-resnet101 "$@"
