#!/usr/bin/env bash
# Trains the full-precision checkpoints shipped in checkpoints/ (resumable: rerun to continue). The first four
# were trained in float32 before --precision existed, so they name it; the 300-epoch run uses bfloat16 autocast, and
# the last line averages 24 more epochs from it (SWA).
set -euo pipefail
cd "$(dirname "$0")/.."
export MPQLAB_DATA="${MPQLAB_DATA:-$(realpath ../shared/datasets)}"
MPQ=${MPQ:-.venv/bin/mpqlab}
$MPQ train --model resnet20 --data cifar10-mini --epochs 60 --lr 0.2 --seed 0 --out checkpoints/resnet20_cifar10-mini.safetensors --precision fp32 --json
$MPQ train --model resnet20 --data cifar10 --epochs 40 --lr 0.2 --seed 0 --out checkpoints/resnet20_cifar10.safetensors --precision fp32 --json
$MPQ train --model resnet20 --data cifar10 --epochs 160 --lr 0.2 --cutout 16 --seed 0 --out checkpoints/resnet20_cifar10_e160.safetensors --precision fp32 --json
$MPQ train --model resnet20 --data fashion-mnist --epochs 3 --lr 0.2 --seed 0 --out checkpoints/resnet20_fashion-mnist.safetensors --precision fp32 --json
$MPQ train --model resnet20 --data cifar10 --epochs 300 --lr 0.2 --cutout 16 --seed 0 --precision bf16 --out checkpoints/resnet20_cifar10_e300.safetensors --json
$MPQ train --model resnet20 --data cifar10 --init checkpoints/resnet20_cifar10_e300.safetensors --epochs 24 --swa-epochs 24 --schedule constant --lr 0.02 --cutout 16 --seed 1 --precision bf16 --out checkpoints/resnet20_cifar10_e300_swa.safetensors --json
# the five-class proxy of configs/shift_classes.json (bf16 autocast: what --precision auto chose on this CPU)
$MPQ train --model resnet20 --data cifar10-mini-animals5 --epochs 60 --lr 0.2 --seed 0 --precision bf16 --out checkpoints/resnet20_cifar10-mini-animals5.safetensors --json
