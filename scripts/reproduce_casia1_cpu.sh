#!/usr/bin/env bash
# Reproduce the CASIA v1 main result of docs/RESULTS.md on a CPU, no ImageNet weights (about 60 min):
#   1. pre-training on synthetic tampering of the *train-side* CASIA v1 authentic photos (--synthetic-source);
#   2. fine-tuning on the source-disjoint CASIA v1 train split (authentic images as negatives, native-
#      resolution random crops, JPEG/blur/noise); its last checkpoint is the model;
#   3. test.py on the test split at 0.5 (main result) and at the threshold that maximises the pooled F1 on
#      the *val* split (labelled "val threshold"), both transfer directions, and the robustness sweep.
# Usage: CACL_CASIA1_ROOT=/path/to/CASIA1 bash scripts/reproduce_casia1_cpu.sh [extra fine-tuning flags]
set -euo pipefail
cd "$(dirname "$0")/.."
CASIA1=${CACL_CASIA1_ROOT:?set CACL_CASIA1_ROOT to the CASIA v1 folder (Au/, Tp/, Gt/)}
SPLIT=${SPLIT:-splits/casia1_source_disjoint}
RUN=${RUN_DIR:-run}
OUT=${OUT_DIR:-results}
PRE_EPOCHS=${PRE_EPOCHS:-4}
EPOCHS=${EPOCHS:-8}
POS_WEIGHT=${POS_WEIGHT:-3}
SEED=${SEED:-0}

latest() { ls -d "$1"/experiment_* | sort -t_ -k2 -n | tail -1; }

# train-side authentic photos only: no test-side source photo is seen, even as synthetic material
AU="$RUN/casia1_au_train"
mkdir -p "$AU"
grep '^Au/' "$SPLIT/train.txt" | cut -d' ' -f1 | while read -r f; do ln -sf "$(realpath "$CASIA1/$f")" "$AU/"; done

python train.py --run-dir "$RUN" --checkname casia1-au-synthetic --synthetic-source "$AU" \
    --epochs "$PRE_EPOCHS" --pos-weight "$POS_WEIGHT" --seed "$SEED"
PRE=$(latest "$RUN/synthetic/casia1-au-synthetic")/model_best.pth.tar

python train.py --run-dir "$RUN" --checkname casia1-ft --resume "$PRE" --ft \
    --dataset list --list "$SPLIT/train.txt" --val-list "$SPLIT/val.txt" --data-root "$CASIA1" \
    --val-fraction 0 --test-fraction 0 --include-authentic --base-size 0 --test-batch-size 1 \
    --epochs "$EPOCHS" --degrade-prob 0.3 --pos-weight "$POS_WEIGHT" --seed "$SEED" "$@"
FT=$(latest "$RUN/list/casia1-ft")/checkpoint.pth.tar

python test.py --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$FT" --out-dir "$OUT/casia1_test"
python test.py --in-path "$SPLIT/val.txt" --data-root "$CASIA1" --ckpt "$FT" --out-dir "$OUT/casia1_val"
THR=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['threshold@best/dataset'])" \
      "$OUT/casia1_val/metrics.json")
python test.py --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$FT" --threshold "$THR" \
    --out-dir "$OUT/casia1_test_val_threshold"
python test.py --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$PRE" --out-dir "$OUT/transfer_au_synthetic_to_casia1"
python test.py --in-path synthetic --split test --ckpt "$FT" --out-dir "$OUT/transfer_casia1_to_synthetic"
python test.py --in-path "$SPLIT/test.txt" --data-root "$CASIA1" --ckpt "$FT" --out-dir "$OUT/casia1_robust" \
    --threshold "$THR" --robust jpeg:50,70,90 blur:3,5 noise:3 resize:0.5
