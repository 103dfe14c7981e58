#!/usr/bin/env bash
# Train on NIST16. With NIST_TRAIN_LIST (e.g. the common 404-image train list) the list is the training
# set and 10 % of it validates; the 160-image test list is then scored with test.py. Without it, a
# seeded split of the whole set (10 % val, 20 % test) is used.
#   NGPUS=2 NIST_TRAIN_LIST=train_404.txt bash scripts/train_nist.sh [extra train.py flags]
source "$(dirname "$0")/_train_common.sh"
if [[ -n "${NIST_TRAIN_LIST:-}" ]]; then
  split=(--list "$NIST_TRAIN_LIST" --val-fraction 0.1 --test-fraction 0)
else
  split=(--val-fraction 0.1 --test-fraction 0.2)
fi
run_train --dataset nist16 "${split[@]}" --epochs 200 --checkname nist16-resnet101 "$@"
