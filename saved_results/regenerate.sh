#!/usr/bin/env bash
# Regenerates saved_results/: every code of the paper on digits and
# fashion_mnist with the models that fit 2 CPU cores, then bin/report (which
# also remakes the marked tables of README.md and docs/results.md).
#
#   saved_results/regenerate.sh [--force] [RUNS_DIR]   # default /tmp/tfmdl_saved
#
# Each run writes its full workdir (block arrays, payloads, TensorBoard
# events) under RUNS_DIR and only its results.json (plus the switch code's
# Figure 3) is copied here, so the committed files stay small. The runs use
# this checkout's tfmdl (it goes first on PYTHONPATH). Resumable, and never
# mixes code versions: a run whose results.json records the current code
# version (code_version.source_sha256, a hash of tfmdl/, bin/, configs/,
# benchmarks/ and the selection scripts: tfmdl.results.CODE_DIRS) is kept; a
# finished run of other code, or an unfinished one started by other code, is
# deleted and rerun. --force deletes and reruns every run. Logs:
# RUNS_DIR/logs/.
#
# Every run appends a line to the run ledger saved_results/ledger.jsonl
# (TFMDL_LEDGER), which first gets the runs made on these labels before the
# ledger existed (saved_results/ledger_history.py, once); a result pays log2
# of the settings its model was run with on its labels (tfmdl/ledger.py).
#
# Deviations from the paper's settings, for time on 2 CPU cores, all visible
# in each results.json's config: fashion_mnist's variational runs train 6
# epochs at learning rate 3e-3 (the paper: 50 epochs at 1e-3), the subspace
# code's grid of d is (100, 1000) with 8 epochs per d.
set -euo pipefail

force=0
if [[ ${1:-} == --force ]]; then
  force=1
  shift
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-/tmp/tfmdl_saved}
out=$repo/saved_results
mkdir -p "$runs/logs"
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export TFMDL_LEDGER=$out/ledger.jsonl
python3 saved_results/ledger_history.py --ledger="$TFMDL_LEDGER"
current=$(python3 -c 'from tfmdl import results
print(results.code_version()["source_sha256"])')
echo "code version (source sha256): $current"

# recorded FILE: the source_sha256 of the code that wrote a results.json.
recorded() {
  python3 -c 'import json, sys
record = json.load(open(sys.argv[1]))
print((record.get("code_version") or {}).get("source_sha256", ""))' "$1"
}

# run NAME BINARY ARGS...: bin/BINARY ARGS --workdir=RUNS_DIR/NAME, then copy.
# RUNS_DIR/NAME/.code_version holds the code version that started the run.
run() {
  local name=$1 binary=$2
  shift 2
  local dir=$runs/$name
  if ((!force)) && [[ -f $dir/results.json &&
                     $(recorded "$dir/results.json") == "$current" ]]; then
    echo "[$(date +%T)] $name: done before by this code, kept"
  else
    if [[ -d $dir ]] && { ((force)) || [[ -f $dir/results.json ]] ||
        [[ $(cat "$dir/.code_version" 2>/dev/null) != "$current" ]]; }; then
      echo "[$(date +%T)] $name: run by other code (or --force), deleted"
      rm -rf "$dir"
    fi
    mkdir -p "$dir"
    echo "$current" >"$dir/.code_version"
    echo "[$(date +%T)] $name: bin/$binary $*"
    local began=$SECONDS
    if ! "bin/$binary" "$@" --workdir="$dir" >"$runs/logs/${name//\//_}.log" 2>&1; then
      echo "  FAILED, see $runs/logs/${name//\//_}.log" >&2
      tail -3 "$runs/logs/${name//\//_}.log" >&2
      return 1
    fi
    echo "  $((SECONDS - began)) s"
  fi
  mkdir -p "$out/$name"
  cp "$dir/results.json" "$out/$name/"
  if [[ -f $dir/figure3_cumulative.png ]]; then
    cp "$dir/figure3_cumulative.png" "$out/$name/"
  fi
}

# Order: what the README's headline and the shortest codes need first, the
# long random-label runs of the convnet recipes last, so that a run cut short
# (the script resumes) still covers the most.

# --- digits: every code, every model, minutes in all -------------------------
for model in mlp lenet tinycnn; do
  run digits/prequential_$model prequential \
      --config=configs/prequential_digits.py:$model
done
run digits/switch switch --runs="$runs/digits/prequential_mlp,$runs/digits/prequential_lenet,$runs/digits/prequential_tinycnn"
for model in mlp lenet tinycnn; do
  run digits/self_switch_$model switch --self_switch \
      --runs="$runs/digits/prequential_$model"
done
for code in float32 compressed subspace; do
  for model in mlp lenet; do
    run digits/twopart_${code}_$model twopart --code=$code \
        --config=configs/twopart_digits.py:$model
  done
done
run digits/variational_mlp variational --config=configs/variational_digits.py:mlp
run digits/variational_mlp_random_labels variational \
    --config=configs/variational_digits.py:mlp --random_labels
run digits/variational_lenet variational \
    --config=configs/variational_digits.py:lenet
# Online learner (one model trained as labels arrive), same files as a block run.
run digits/prequential_online_mlp prequential \
    --config=configs/prequential_digits.py:mlp --learner=online
# The shortest code: the Bayes mixture of block, online, their switch, uniform.
run digits/code_shortest_mlp prequential \
    --config=configs/prequential_digits.py:mlp --learner=shortest

# --- fashion_mnist: the shortest codes ----------------------------------------
# The recipes of configs/shortest_fashion_mnist.py on the true labels, and on
# random ones (which must cost at least uniform - 10 bits).
for recipe in mlp_fast mlp switch_fast tinycnn tinycnn_ensemble \
    tinycnn_ensemble_tta; do
  run fashion_mnist/shortest_$recipe prequential \
      --config=configs/shortest_fashion_mnist.py:$recipe
done
for recipe in mlp_fast mlp switch_fast; do
  run fashion_mnist/shortest_${recipe}_random_labels prequential \
      --config=configs/shortest_fashion_mnist.py:$recipe --random_labels
done
for model in mlp lenet; do
  run fashion_mnist/prequential_online_$model prequential \
      --config=configs/prequential_fashion_mnist.py:$model --learner=online
done
run fashion_mnist/code_shortest_mlp prequential \
    --config=configs/prequential_fashion_mnist.py:mlp --learner=shortest

# --- fashion_mnist: the paper's codes with mlp, lenet, tinycnn ----------------
for model in mlp lenet tinycnn; do
  run fashion_mnist/prequential_$model prequential \
      --config=configs/prequential_fashion_mnist.py:$model
done
run fashion_mnist/switch switch --runs="$runs/fashion_mnist/prequential_mlp,$runs/fashion_mnist/prequential_lenet,$runs/fashion_mnist/prequential_tinycnn"
for model in mlp lenet tinycnn; do
  run fashion_mnist/self_switch_$model switch --self_switch \
      --runs="$runs/fashion_mnist/prequential_$model"
done
# Figure 1: the MLP with 3 hidden layers of 200, true against random labels.
run fashion_mnist/variational_mlp variational \
    --config=configs/variational_fig1.py:fashion_mnist \
    --config.train.max_epochs=6 --config.train.learning_rate=3e-3
run fashion_mnist/variational_mlp_random_labels variational \
    --config=configs/variational_fig1.py:fashion_mnist --random_labels \
    --config.train.max_epochs=6 --config.train.learning_rate=3e-3
run fashion_mnist/variational_lenet variational \
    --config=configs/variational_fashion_mnist.py:lenet \
    --config.train.max_epochs=6 --config.train.learning_rate=3e-3
for model in mlp lenet tinycnn; do
  run fashion_mnist/twopart_float32_$model twopart --code=float32 \
      --config=configs/twopart_fashion_mnist.py:$model
  run fashion_mnist/twopart_compressed_$model twopart --code=compressed \
      --config=configs/twopart_fashion_mnist.py:$model
  run fashion_mnist/twopart_subspace_$model twopart --code=subspace \
      --config=configs/twopart_fashion_mnist.py:$model \
      --config.subspace.dims='(100,1000)' --config.subspace.max_epochs=8
done

# --- fashion_mnist: the convnet recipes on random labels (about an hour) ------
for recipe in tinycnn tinycnn_ensemble tinycnn_ensemble_tta; do
  run fashion_mnist/shortest_${recipe}_random_labels prequential \
      --config=configs/shortest_fashion_mnist.py:$recipe --random_labels
done

# The prequential code as a file: sizes of header, payload and checks.
saved_results/compress_digits.sh "$runs"

# The report, and the tables of README.md and docs/results.md made from it.
bin/report --results="$out" --out="$out" --pages=README.md,docs/results.md
