#!/usr/bin/env bash
# Reproduce the CASIA v1 main result of docs/RESULTS.md on a 2-core CPU (13 epochs with half as many synthetic
# samples as real ones, chosen for the 60-minute training budget on the val split: 51-56 min of training for
# seeds 0-3, 2-core AMD EPYC, 2026-12-01/02, with the fast depthwise kernels of modeling/depthwise.py):
#   1. joint training of the ImageNet-initialised MobileNetV2 (--pretrained auto; train.py's quick-run model:
#      separable ASPP/decoder convolutions, no dropout) on the source-disjoint
#      CASIA v1 train split (authentic images as negatives, native-resolution random crops with no random
#      rescaling, JPEG/blur/noise) plus synthetic tamperings of the *train-side* authentic photos
#      (MIX, default 0.5: --mix-synthetic 0.5), 13 epochs, validating and keeping the weight average
#      (--ema-decay 0.999);
#   2. test.py, with flip test-time augmentation (TTA, default hflip, chosen on the val split:
#      docs/RESULTS.md, tenth round), on the test split at 0.5 with the last checkpoint and with the one
#      early-stopped on val (model_best), the val split itself (for choosing thresholds and the image-level
#      score), the transfer to every other benchmark sample set in ../shared/fixtures, to synthetic data,
#      and the robustness sweep (JPEG, blur, noise, resize) on the test split.
# Usage: CACL_CASIA1_ROOT=/path/to/CASIA1 bash scripts/reproduce_casia1_cpu.sh [extra training flags]
set -euo pipefail
cd "$(dirname "$0")/.."
MIX=${MIX:-0.5}  # synthetic samples per real one: docs/RESULTS.md, eighth round
source scripts/_casia1_common.sh
FIXTURES=${FIXTURES:-../shared/fixtures/iml_samples}
RUN=${RUN_DIR:-run}
OUT=${OUT_DIR:-results}
EPOCHS=${EPOCHS:-13}
SEED=${SEED:-0}
CHECKNAME=${CHECKNAME:-casia1-joint}
TTA=${TTA:-hflip}

evaluate() { python test.py --tta "$TTA" "$@"; }

latest() { ls -d "$1"/experiment_* | sort -t_ -k2 -n | tail -1; }

casia1_flags "$RUN"
python train.py --run-dir "$RUN" --checkname "$CHECKNAME" "${CASIA1_FLAGS[@]}" \
    --epochs "$EPOCHS" --seed "$SEED" "$@"
DIR=$(latest "$RUN/list/$CHECKNAME")

for CKPT in checkpoint model_best; do
  evaluate --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$DIR/$CKPT.pth.tar" \
      --out-dir "$OUT/casia1_test_$CKPT"
done
for SCORE in max topk; do
  evaluate --in-path "$SPLIT/val.txt" --data-root "$CASIA1" --ckpt "$DIR/checkpoint.pth.tar" \
      --image-score "$SCORE" --out-dir "$OUT/casia1_val_$SCORE"
done
if [[ -d "$FIXTURES/pairs" ]]; then
  for SET in CASIA2_samples COVERAGE NoSo Korus; do
    evaluate --in-path "$FIXTURES/pairs/$SET.txt" --data-root "$FIXTURES" --ckpt "$DIR/checkpoint.pth.tar" \
        --out-dir "$OUT/transfer_casia1_to_$SET"
  done
fi
evaluate --in-path synthetic --split test --ckpt "$DIR/checkpoint.pth.tar" \
    --out-dir "$OUT/transfer_casia1_to_synthetic"
evaluate --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$DIR/checkpoint.pth.tar" \
    --robust jpeg:50,70,90 blur:3,5 noise:3 resize:0.5 --out-dir "$OUT/casia1_robust"
