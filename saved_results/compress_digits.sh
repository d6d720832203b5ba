#!/usr/bin/env bash
# bin/compress and bin/decompress on scikit-learn's digits (the default config:
# configs/prequential_digits.py, MLP), in two processes, then a comparison of
# the decoded labels with the data set's. Their output (sizes of the header,
# payload and checks, the codelength, the overhead) goes to
# saved_results/digits/compress.txt: the numbers that README.md and
# docs/compression.md quote. About a minute and a half on 2 CPU cores.
#
#   saved_results/compress_digits.sh [WORK_DIR]      # default /tmp/tfmdl
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/tfmdl}
mkdir -p "$work"
cd "$repo"
{
  echo "\$ bin/compress --out=$work/digits.tfmdl"
  bin/compress --out="$work/digits.tfmdl"
  echo "\$ bin/decompress $work/digits.tfmdl --out=$work/digits_labels.npy"
  bin/decompress "$work/digits.tfmdl" --out="$work/digits_labels.npy"
  python - "$work/digits_labels.npy" <<'PY'
import sys
import numpy as np
import tfmdl.data
decoded = np.load(sys.argv[1])
same = np.array_equal(decoded, tfmdl.data.load("digits").y_train)
print(f"decoded labels equal the data set's, bit for bit: {same}")
PY
} | sed -E 's/; [0-9.]+s$//' > saved_results/digits/compress.txt
cat saved_results/digits/compress.txt
