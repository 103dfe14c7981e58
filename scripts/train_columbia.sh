#!/usr/bin/env bash
# Train on Columbia uncompressed splicing (seeded split, 10 % val, 20 % test).
#   NGPUS=1 bash scripts/train_columbia.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
run_train --dataset columbia --val-fraction 0.1 --test-fraction 0.2 --epochs 200 --checkname columbia-resnet101 "$@"
