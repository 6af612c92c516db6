#!/usr/bin/env bash
# The Omniglot example under mpirun (issue 20): 2 ranks train data-parallel with one progress
# display, one CSV log, one checkpoint and one table; --resume then continues the same run on 1
# rank and on 3 (a checkpoint does not depend on the number of ranks that wrote it).
#   mpi_test.sh <mpiexec> <omniglot binary> <work dir> <source dir>
# The data: $MANN_DATA_DIR, else <source dir>/data/omniglot; skipped without it (one SKIP line).
set -euo pipefail
mpiexec=$1 binary=$2 work=$3 source=$4
source "$(dirname "$0")/../common/test_data.sh"
find_test_data "$source"
rm -rf "$work"
mkdir -p "$work"
common=(--model mann --alphabets 3 --eval-every 64 --eval-episodes 16 --test-episodes 16 --threads 1
        --controller-size 16 --memory-slots 16 --memory-width 8 --heads 2 --data-dir "$data" --out-dir "$work/out")
mpi=("$mpiexec" --oversubscribe --allow-run-as-root)

fail() { echo "FAILED: $1"; for f in "$work"/*.err; do echo "--- $f"; cat "$f"; done; exit 1; }
expect_count() {  # expect_count <what> <expected> <actual>
  [[ $2 == "$3" ]] || fail "$1: expected $2, found $3"
}
step() {  # step <name> <episodes> <launcher...> -- [extra args]
  local name=$1 episodes=$2
  shift 2
  "$@" "$binary" "${common[@]}" --episodes "$episodes" > "$work/$name.out" 2> "$work/$name.err" ||
    fail "$name exited with $?"
  expect_count "$name: progress displays" 1 "$(grep -c '^training mann' "$work/$name.err")"
  expect_count "$name: tables" 1 "$(grep -c '| ours: mann' "$work/$name.out")"
  expect_count "$name: log rows" $((episodes / 64 + 1)) "$(wc -l < "$work/out/mann.csv")"
  expect_count "$name: log headers" 1 "$(grep -c '^episodes,' "$work/out/mann.csv")"
}
step np2 128 "${mpi[@]}" -np 2
grep -q "2 ranks x 1 threads" "$work/np2.err" || fail "np2 did not train on 2 ranks"
[[ -f $work/out/mann.safetensors ]] || fail "no checkpoint"
common+=(--resume)
step np1 192 env
grep -q "loaded .* (128 episodes trained)" "$work/np1.err" || fail "np1 did not resume from 128 episodes"
step np3 256 "${mpi[@]}" -np 3
grep -q "loaded .* (192 episodes trained)" "$work/np3.err" || fail "np3 did not resume from 192 episodes"
grep -q "3 ranks x 1 threads" "$work/np3.err" || fail "np3 did not train on 3 ranks"
ls "$work/out" | grep -q "tmp" && fail "temporary files left in the output folder"
echo "PASSED: 2 ranks, then --resume on 1 and on 3"
