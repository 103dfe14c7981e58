#!/usr/bin/env bash
# Train on CASIA v2, validate on the whole of CASIA v1 (the cross-dataset protocol).
#   NGPUS=4 bash scripts/train_casia.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
run_train --dataset casia2 --val-dataset casia1 --epochs 100 --checkname casia2-resnet101 "$@"
