#!/usr/bin/env bash
# Downloads the wheels the GPU machine lacks into .gpu-wheels/ (ignored by git) for the device tool's `carry`.
# Run it here, in the repository root, where pip reaches PyPI; the GPU machine has no package registry.
# Versions: the ones the CPU suite runs with (constraints.txt resolves them), except liger-kernel and bitsandbytes,
# which only the GPU uses. The image already has torch, transformers 5.17, accelerate, triton, pyarrow, pandas,
# numpy, huggingface-hub, tokenizers, safetensors, pyyaml and jinja2 (see PREPARE.md).
#   bash benchmarks/gpu/carry.sh            # everything (about 50 MB; under the 64 MiB a call carries)
#   bash benchmarks/gpu/carry.sh --no-qlora # without bitsandbytes (43 MB of it)
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.gpu-wheels
PY=${PYTHON:-.venv/bin/python}
WHEELS=(
  trl==1.16.0 peft==0.21.2 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  liger-kernel==0.8.5
)
[[ "${1:-}" == "--no-qlora" ]] || WHEELS+=(bitsandbytes==0.50.2)
rm -rf "$DEST" && mkdir -p "$DEST"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d "$DEST" "${WHEELS[@]}"
du -sh "$DEST"
ls "$DEST"
