#!/usr/bin/env bash
# Train on COVERAGE (100 tampered images: seeded split, 10 % val, 20 % test; masks of another size
# than their image are resized).
#   NGPUS=1 bash scripts/train_coverage.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
run_train --dataset coverage --mask-mismatch resize --val-fraction 0.1 --test-fraction 0.2 --epochs 200 \
  --checkname coverage-resnet101 "$@"
