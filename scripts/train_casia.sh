#!/usr/bin/env bash
# Train on CASIA v2, validate on the whole of CASIA v1 (the cross-dataset protocol).
#   NGPUS=4 bash scripts/train_casia.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
# no random rescaling of the CASIA train images (resampling most likely blurs the traces the model reads)
# (chosen on the CASIA v1 val split at the CPU budget, docs/RESULTS.md "recipe search";
# overrides the shared 0.5-1.5); validate and save the weight average (--ema-decay, chosen the same way)
run_train --dataset casia2 --val-dataset casia1 --epochs 100 --checkname casia2-resnet101 \
    --min-scale 1.0 --max-scale 1.0 --ema-decay 0.999 "$@"
