#!/usr/bin/env bash
# Shared by scripts/train_*.sh: the method's training recipe (METHOD.md §4: SGD, lr 0.007, poly, batch 16, 512 px,
# DeepLabv3+'s standard decoder with its dropout)
# and the launcher. NGPUS > 1 runs torchrun (python -m torch.distributed.run) with one process per GPU
# (DDP); otherwise plain python. PYTHON picks the interpreter (default: python).
# Each script adds its dataset flags; extra arguments ("$@") come last, so they override the recipe.
# PRETRAINED=imagenet|/path/to/weights.pth adds --pretrained (ImageNet initialisation of the backbone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NGPUS=${NGPUS:-1}
RECIPE=(
  --backbone resnet101 --out-stride 16 --no-separable --dropout-scale 1
  --crop-size 512 --base-size 512 --batch-size 16 --workers 8
  --optimizer sgd --lr 0.007 --momentum 0.9 --weight-decay 5e-4 --lr-scheduler poly --warmup-iters 0
  --min-scale 0.5 --max-scale 1.5 --hflip --degrade-prob 0.3
)
if [[ -n "${PRETRAINED:-}" ]]; then
  RECIPE+=(--pretrained "$PRETRAINED")
fi

run_train() {
  if (( NGPUS > 1 )); then
    launcher=("${PYTHON:-python}" -m torch.distributed.run --standalone --nproc_per_node "$NGPUS")
  else
    launcher=("${PYTHON:-python}")
  fi
  set -x
  "${launcher[@]}" train.py "${RECIPE[@]}" "$@"
}
