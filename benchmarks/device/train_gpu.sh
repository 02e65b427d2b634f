#!/usr/bin/env bash
# Run THERE (a lent GPU machine), from the repository root, after prepare.sh ran here:
#   device run, carry [".whl", ".devcache"], timeout_s 540, command
#   bash benchmarks/device/train_gpu.sh
# Measures issue 3's GPU figure: the default training on P1's split of MovieLens-100K
# and training samples/s at batch 32 (the default), 1024 and 4096, with the device
# named in every figure; then the model tests (tests/model) with their small model on
# CUDA, the only run of the training code's CUDA paths (a failure there is reported in
# the log, not hidden, and does not undo the figures). Results land in $OUT
# (training.json, training.md, log).
# To check the script on the development machine: DEVICE=cpu PY=.venv/bin/python
# WHEELS=0 EPOCHS=1 BATCH_SIZES=32 bash benchmarks/device/train_gpu.sh (that .venv
# has the packages the wheels bring; they are built for the GPU image's Python 3.12).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/lmrec-device-out}
mkdir -p "$out"
PY=${PY:-python3}
if [ "${WHEELS:-1}" = 1 ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/lmrec-site .whl/*.whl
fi
export PYTHONPATH="$PWD/src:/tmp/lmrec-site" PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export LMREC_ML100K_PATH="$PWD/.devcache/ml-100k" LMREC_DATA_DIR="$PWD/.devcache/data"
nvidia-smi -L 2>/dev/null | tee "$out/log" || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' \
  | tee -a "$out/log"
"$PY" benchmarks/training.py --device "${DEVICE:-cuda}" \
  --batch-sizes "${BATCH_SIZES:-32,1024,4096}" --epochs "${EPOCHS:-3}" --out "$out" 2>&1 \
  | tee -a "$out/log"
# The model tests on the same device; pytest's verdict is the script's exit status.
set +e
LMREC_TEST_DEVICE="${DEVICE:-cuda}" "$PY" -m pytest -q -p no:cacheprovider tests/model 2>&1 \
  | tee -a "$out/log"
status=${PIPESTATUS[0]}
echo "model tests on ${DEVICE:-cuda}: exit $status" | tee -a "$out/log"
exit "$status"
