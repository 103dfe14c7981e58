#!/usr/bin/env bash
# Ablation of the CaCL loss terms (docs/RESULTS.md): every variant with the same budget, seed and data.
#   bash scripts/ablation.sh synthetic        # from scratch on the embedded synthetic data (short budget)
#   CACL_CASIA1_ROOT=/path/to/CASIA1 bash scripts/ablation.sh casia1
#                                             # reproduce_casia1_cpu.sh's joint training (ImageNet init,
#                                             # CASIA v1 source-disjoint split + synthetic), EPOCHS (3) epochs
# SEEDS="0 1 2" sets the seeds; VARIANTS="mask full" a subset; extra arguments go to every train.py call.
# The table (last validation of each run, mean and spread over seeds) is printed at the end and written
# to $RUN/<setting>/ablation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SETTING=${1:?usage: ablation.sh synthetic|casia1 [extra train.py flags]}
shift
RUN=${RUN_DIR:-run}/ablation
SEEDS=${SEEDS:-"0 1 2"}
VARIANTS=${VARIANTS:-"mask contour contrast full drop image"}

variant_flags() {
  case "$1" in
    mask)     echo "--lambda-contour 0 --lambda-contrast 0 --lambda-pivot 0" ;;  # mask loss only
    contour)  echo "--lambda-contrast 0 --lambda-pivot 0" ;;                    # + contour BCE
    contrast) echo "--lambda-pivot 0" ;;                                        # + contrastive, both branches
    full)     echo "" ;;                                                        # + pivot: the full method
    drop)     echo "--contour-patches drop" ;;                                  # full, contour patches dropped
    image)    echo "--contrast-scope image" ;;                                  # full, contrast within images
    *) echo "unknown variant '$1'" >&2; exit 2 ;;
  esac
}

case "$SETTING" in
  synthetic)
    DATA=(--crop-size 128 --base-size 128 --synthetic-size 800 --epochs 2 --pos-weight 3) ;;
  casia1)
    source scripts/_casia1_common.sh
    casia1_flags "$RUN"
    DATA=("${CASIA1_FLAGS[@]}" --epochs "${EPOCHS:-3}") ;;
  *) echo "setting must be synthetic or casia1, got '$SETTING'" >&2; exit 2 ;;
esac

for seed in $SEEDS; do
  for variant in $VARIANTS; do
    # shellcheck disable=SC2046  # the variant's flags are meant to split into words
    python train.py --run-dir "$RUN/$SETTING" --checkname "$variant-seed$seed" --seed "$seed" \
        "${DATA[@]}" $(variant_flags "$variant") "$@"
  done
done
python scripts/collect_ablation.py "$RUN/$SETTING" --variants $VARIANTS | tee "$RUN/$SETTING/ablation.md"
