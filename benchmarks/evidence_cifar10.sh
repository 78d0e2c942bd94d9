#!/bin/bash
# The README's "Evidence on CIFAR-10" run, step by step. Re-running it continues after a kill: a finished step is
# skipped, and a distillation student continues from its last epoch checkpoint (`art-bmtad train --resume`).
#
#   DATA=path/to/cifar10.npz benchmarks/evidence_cifar10.sh [OUT]      (OUT defaults to runs/evidence)
#
# ART_BMTAD and PYTHON name other executables (default: art-bmtad and python on PATH); nice it on a shared machine.
set -u
: "${DATA:?set DATA to the CIFAR-10 .npz file (see the README)}"
OUT=${1:-runs/evidence}
ABT=${ART_BMTAD:-art-bmtad}
EVAL=(--n-examples 1000 --attacks clean,pgd20,autoattack --autoattack-budget fast --no-sanity-checks)
PRESET=(--preset cifar10-cpu-strong --data-path "$DATA")
mkdir -p "$OUT"

train() {  # train NAME [train options]: the student in OUT/NAME, resumed from its checkpoints if it has some
  local run="$OUT/$1"; shift
  [ -s "$run/student.safetensors" ] && return 0
  if [ -n "$(ls -A "$run/checkpoints" 2>/dev/null)" ]; then $ABT train --resume "$run"
  else rm -rf "$run"; $ABT train "$@" --out "$run"; fi
}
evaluate() {  # evaluate MODEL REPORT [eval options]: clean, PGD-20 and AutoAttack on the first 1,000 test images
  local model=$1 report=$2; shift 2
  [ -s "$report" ] || $ABT eval --model "$model" "${EVAL[@]}" "$@" --out "$report"
}

# Training first (teachers, students, the tuning study), then every evaluation, so the models are all there early.
train bmtard-paper "${PRESET[@]}" --defence bmtard  # trains and caches both teachers first
for defence in mtard rslad art-madry-pgd art-trades; do
  train $defence "${PRESET[@]}" --defence $defence
done
if [ ! -s "$OUT/tune/config.yaml" ]; then
  if [ -s "$OUT/tune/tune.json" ]; then $ABT tune --resume "$OUT/tune"
  else rm -rf "$OUT/tune"; $ABT tune "${PRESET[@]}" --pilot 500 --trials 6 --out "$OUT/tune"; fi
fi
train bmtard-tuned --config "$OUT/tune/config.yaml"
# The robust teacher (the preset's, reused from the teacher cache) against the student's own Madry training.
mkdir -p "$OUT/teachers"
if [ ! -s "$OUT/teachers/strength.txt" ]; then
  $ABT teachers --model resnet10t --kind madry --data "$DATA" --n-train 1200 --val-size 200 --epochs 12 \
      --milestones 9 --compare-student resnet10t --compare-epochs 4 --out "$OUT/teachers/robust" --quiet \
      > "$OUT/teachers/strength.part" && mv "$OUT/teachers/strength.part" "$OUT/teachers/strength.txt"
fi
for name in bmtard-paper mtard rslad art-madry-pgd art-trades bmtard-tuned; do
  evaluate "$OUT/$name" "$OUT/$name/robustness.json"
done
evaluate "$OUT/teachers/robust.safetensors" "$OUT/teachers/robust_robustness.json" --data "$DATA"
"${PYTHON:-python}" "$(dirname "$0")/evidence_table.py" --plot "$OUT/evidence_cifar10.png" \
    "B-MTARD, paper settings=$OUT/bmtard-paper/robustness.json" "B-MTARD, tuned=$OUT/bmtard-tuned/robustness.json" \
    "MTARD=$OUT/mtard/robustness.json" "RSLAD=$OUT/rslad/robustness.json" \
    "ART Madry=$OUT/art-madry-pgd/robustness.json" "ART TRADES=$OUT/art-trades/robustness.json" \
    "robust teacher=$OUT/teachers/robust_robustness.json"
