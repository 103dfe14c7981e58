#!/usr/bin/env bash
# Shared by reproduce_casia1_cpu.sh and ablation.sh casia1: the CASIA v1 joint-training recipe.
# Sets CASIA1_FLAGS (train.py flags: the source-disjoint split, authentic images as negatives,
# native-resolution crops with no random rescaling, JPEG/blur/noise, --pos-weight, the weight average,
# and synthetic tampering of the train-side authentic photos mixed in)
# after linking those photos into "$1"/casia1_au_train. Environment: CACL_CASIA1_ROOT (required), SPLIT,
# MIX (synthetic share, default 1.0; reproduce_casia1_cpu.sh sets 0.5), POS_WEIGHT (default 3).
CASIA1=${CACL_CASIA1_ROOT:?set CACL_CASIA1_ROOT to the CASIA v1 folder (Au/, Tp/, Gt/)}
SPLIT=${SPLIT:-splits/casia1_source_disjoint}
MIX=${MIX:-1.0}
POS_WEIGHT=${POS_WEIGHT:-3}

# train-side authentic photos only: no test-side source photo is seen, even as synthetic material
casia1_flags() {
  local au="$1/casia1_au_train"
  mkdir -p "$au"
  grep '^Au/' "$SPLIT/train.txt" | cut -d' ' -f1 | while read -r f; do ln -sf "$(realpath "$CASIA1/$f")" "$au/"; done
  CASIA1_FLAGS=(--dataset list --list "$SPLIT/train.txt" --val-list "$SPLIT/val.txt" --data-root "$CASIA1"
                --val-fraction 0 --test-fraction 0 --include-authentic --base-size 0 --test-batch-size 1
                --min-scale 1.0 --max-scale 1.0  # no rescaling: docs/RESULTS.md, recipe search
                --ema-decay 0.999  # validate and save the weight average: docs/RESULTS.md, main result
                --synthetic-source "$au" --mix-synthetic "$MIX" --degrade-prob 0.3 --pos-weight "$POS_WEIGHT")
}
