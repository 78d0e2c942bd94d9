#!/usr/bin/env bash
# One prepared run for a CUDA machine (the `device` tool): checks the CUDA path end to end and measures
# training throughput of a ResNet-18 student with two ResNet-18 teachers at batch 128 and 256, with and
# without bf16 autocast (channels_last on). Writes JSON files to $OUT (default ./gpu_check_out).
#
# The device machine has torch but cannot reach PyPI: carry ART and the packages it needs that are missing
# there, e.g. carry=[".venv/lib/python3.11/site-packages/art", ".../multiprocess", ".../_multiprocess", ".../dill"]
# and this script puts them on PYTHONPATH (timm and safetensors likewise if the machine lacks them).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/.venv/lib/python3.11/site-packages${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}

$PY - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device"
print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
PY

# End to end on CUDA: trainer with bf16 + channels_last, teacher report, evaluation, save and reload.
$PY - <<'PY'
import numpy as np, torch
from art_bmtad import AdversarialTrainerBMTARDPyTorch
from art_bmtad.adapters import timm_classifier
from art_bmtad.augment import random_crop_flip
rng = np.random.default_rng(0)
x = rng.random((512, 3, 32, 32), dtype=np.float32); y = rng.integers(0, 10, 512)
make = lambda: timm_classifier("resnet18", num_classes=10, dataset="cifar10", cifar_stem=True, device="cuda",
                               channels_last=True)
student = make()
trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=make(), clean_teacher=make(), amp=True,
                                          channels_last=True, augment=random_crop_flip, verbose=False)
trainer.fit(x, y, validation_data=(x[:128], y[:128]), batch_size=128, nb_epochs=1)
assert all(np.isfinite(trainer.history.steps["loss"])), "non-finite loss on CUDA"
print("cuda fit ok:", trainer.history.epochs[-1])
PY

for bs in 128 256; do
  for amp in "" "--amp"; do
    $PY benchmarks/epoch_speed.py --device cuda --model resnet18 --n 10240 --batch-size "$bs" $amp \
      --channels-last --methods plain,bmtard --repeats 2 --out "$OUT/speed_bs${bs}${amp:+_bf16}.json"
  done
done
$PY benchmarks/epoch_speed.py --device cuda --model resnet18 --batch-size 128 --channels-last --breakdown \
  | tee "$OUT/breakdown_bs128.txt"
