#!/usr/bin/env bash
# Trains the four full-precision checkpoints shipped in checkpoints/ (resumable: rerun to continue).
set -euo pipefail
cd "$(dirname "$0")/.."
export MPQLAB_DATA="${MPQLAB_DATA:-$(realpath ../shared/datasets)}"
MPQ=${MPQ:-.venv/bin/mpqlab}
$MPQ train --model resnet20 --data cifar10-mini --epochs 60 --lr 0.2 --seed 0 --out checkpoints/resnet20_cifar10-mini.safetensors --json
$MPQ train --model resnet20 --data cifar10 --epochs 40 --lr 0.2 --seed 0 --out checkpoints/resnet20_cifar10.safetensors --json
$MPQ train --model resnet20 --data cifar10 --epochs 160 --lr 0.2 --cutout 16 --seed 0 --out checkpoints/resnet20_cifar10_e160.safetensors --json
$MPQ train --model resnet20 --data fashion-mnist --epochs 3 --lr 0.2 --seed 0 --out checkpoints/resnet20_fashion-mnist.safetensors --json
