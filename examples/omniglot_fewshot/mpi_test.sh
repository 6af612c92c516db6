#!/usr/bin/env bash
# The few-shot example under mpirun (issue 20): 2 ranks of 1 thread train the ConvNet with memory
# data-parallel with one progress display, one CSV log, one checkpoint and one table, and end with
# the weights of one process with 2 threads, bit for bit (the same blocks, dropout masks and sums);
# --resume then continues the run on 1 rank and on 3; an error on every rank ends the job.
#   mpi_test.sh <mpiexec> <omniglot_fewshot binary> <work dir> <source dir>
# The data: $MANN_DATA_DIR, else <source dir>/data/omniglot; skipped without it (one SKIP line).
set -euo pipefail
mpiexec=$1 binary=$2 work=$3 source=$4
source "$(dirname "$0")/../common/test_data.sh"
find_test_data "$source"
rm -rf "$work"
mkdir -p "$work"
# Tiny: batches of 8 episodes of 10 samples, a held-out check (4 episodes) every 8 episodes.
common=(--model convnet --memory-size 1024 --batch 8 --episode-length 10 --eval-every 8 --eval-episodes 4
        --ways 5 --shots 1 --test-episodes 10 --data-dir "$data")
mpi=("$mpiexec" --oversubscribe --allow-run-as-root)

fail() { echo "FAILED: $1"; for f in "$work"/*.err; do echo "--- $f"; cat "$f"; done; exit 1; }
expect_count() {  # expect_count <what> <expected> <actual>
  [[ $2 == "$3" ]] || fail "$1: expected $2, found $3"
}
step() {  # step <name> <out dir> <episodes> <threads> <launcher...> -- [extra args]
  local name=$1 out=$2 episodes=$3 threads=$4
  shift 4
  "$@" "$binary" "${common[@]}" --out-dir "$out" --threads "$threads" --episodes "$episodes" \
    > "$work/$name.out" 2> "$work/$name.err" || fail "$name exited with $?"
  expect_count "$name: progress displays" 1 "$(grep -c '^training the ConvNet' "$work/$name.err")"
  expect_count "$name: tables" 1 "$(grep -c '| ours: ConvNet with memory' "$work/$name.out")"
  expect_count "$name: log rows" $((episodes / 8 + 1)) "$(wc -l < "$out/convnet_training.csv")"
  expect_count "$name: log headers" 1 "$(grep -c '^episodes,' "$out/convnet_training.csv")"
}
tensors() {  # the tensor bytes of a safetensors file (after its 8-byte length and JSON header)
  local n
  n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
  tail -c +$((9 + n)) "$1" | md5sum | cut -d' ' -f1
}

step np2 "$work/out" 16 1 "${mpi[@]}" -np 2
grep -q "2 ranks x 1 thread" "$work/np2.err" || fail "np2 did not train on 2 ranks"
[[ -f $work/out/convnet.safetensors ]] || fail "no checkpoint"
step threads2 "$work/one_process" 16 2 env
[[ $(tensors "$work/out/convnet.safetensors") == $(tensors "$work/one_process/convnet.safetensors") ]] ||
  fail "2 ranks x 1 thread and 1 process x 2 threads trained different weights"
common+=(--resume)
step np1 "$work/out" 24 1 env
grep -q "loaded .* (16 episodes trained)" "$work/np1.err" || fail "np1 did not resume from 16 episodes"
step np3 "$work/out" 32 1 "${mpi[@]}" -np 3
grep -q "loaded .* (24 episodes trained)" "$work/np3.err" || fail "np3 did not resume from 24 episodes"
grep -q "3 ranks x 1 thread" "$work/np3.err" || fail "np3 did not train on 3 ranks"
ls "$work/out" | grep -q "tmp" && fail "temporary files left in the output folder"
# An error on every rank (no data there) ends the job with a message instead of a hang.
if "${mpi[@]}" -np 2 "$binary" --model convnet --data-dir "$work/no_data" --out-dir "$work/out_error" \
    > "$work/error.out" 2> "$work/error.err"; then
  fail "a missing data folder did not fail under mpirun"
fi
grep -q "omniglot_fewshot: " "$work/error.err" || fail "no error message from the failed job"
echo "PASSED: 2 ranks (the weights of 1 process x 2 threads), then --resume on 1 and on 3"
