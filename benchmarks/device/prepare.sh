#!/usr/bin/env bash
# Run HERE (the development machine), from the repository root, before a GPU run.
#
# A lent GPU machine starts bare and reaches no network: its image has PyTorch,
# numpy, pandas, rich, safetensors, sentence-transformers and the like, but not
# pydantic or the MovieLens data. This puts what the GPU run needs into two
# git-ignored folders that the device call carries:
#   .whl/       wheels of the Python packages the image lacks (CPython 3.12, x86-64),
#               pinned to the versions this checkout's .venv uses
#   .devcache/  MovieLens-100K (from the local dataset cache) and the language-model
#               vectors already computed for it, so the GPU run needs no encoder
# Then: device run, carry [".whl", ".devcache"], command
#   bash benchmarks/device/train_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run 'make install' first" >&2; exit 1; }

# 1. The data and its vectors, loaded as benchmarks/training.py loads them: this
#    fetches the dataset and encodes it once if this checkout has not yet, and
#    prints where both are.
{ read -r ml; read -r vectors; } < <("$PY" - <<'PY'
from lmrec.data import load_dataset
from lmrec.data.download import fetch
from lmrec.evaluate.vectors import cached_vector_sets
from lmrec.interactions import Interactions
from lmrec.settings import Settings

s = Settings()
ds = load_dataset("ml-100k", settings=s)
data = Interactions.from_records(ds.items, ds.events, ds.users)
cache = s.data_dir / "cache" / "vectors"
cached_vector_sets([data.item_texts, data.user_texts], s.encoder, cache)
print(fetch("ml-100k"), cache, sep="\n")
PY
)
[ -d "${vectors:-}" ] || { echo "loading ML-100K or its vectors failed" >&2; exit 1; }
rm -rf .devcache && mkdir -p .devcache/data/cache
cp -r "$ml" .devcache/ml-100k
cp -r "$vectors" .devcache/data/cache/vectors

# 2. Wheels for what the GPU image lacks, at this .venv's versions.
rm -rf .whl && mkdir .whl
frozen=$("$PY" -m pip freeze 2>/dev/null)
pkgs=()
for name in pydantic pydantic_core pydantic-settings annotated-types typing-inspection \
    python-dotenv typing_extensions; do
  pkgs+=("$(grep -i "^${name//[-_]/[-_]}==" <<<"$frozen")")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "${pkgs[@]}"
du -sh .whl .devcache
