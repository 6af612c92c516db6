#!/usr/bin/env bash
# A training run killed with kill -9 and then continued with --resume must leave the same CSV log
# and checkpoint as a run that was never interrupted.
#   resume_test.sh <work dir> <log name> <checkpoint name> <training command...>
# The command is run three ways in <work dir>/{whole,killed,hooked} (its --out-dir is appended):
#   whole:  uninterrupted;
#   killed: kill -9 from outside as soon as the first checkpoint exists, then --resume to the end;
#   hooked: killed by itself (MANN_EXAMPLES_TEST_KILL_AFTER_ROWS, examples/common/output.hpp) right
#           after its 2nd log row is written and before that row's checkpoint is saved -- the worst
#           moment, which an outside kill hits only by chance -- then --resume to the end.
# Compared: the log's rows (every column but the wall-clock "seconds") and the checkpoint's bytes.
# Equal values need deterministic training for a fixed --threads, which the examples have (episodes
# come from (seed, episode index); the trainer sums its threads' gradients in a fixed order).
# With OMNIGLOT_SOURCE_DIR set, the data is $MANN_DATA_DIR, else $OMNIGLOT_SOURCE_DIR/data/omniglot,
# passed as --data-dir; without it the test is skipped (one SKIP line), unless MANN_DATA_DIR is set.
set -euo pipefail
work=$1 log=$2 checkpoint=$3
shift 3
if [[ -n ${OMNIGLOT_SOURCE_DIR:-} ]]; then
  source "$(dirname "$0")/test_data.sh"
  find_test_data "$OMNIGLOT_SOURCE_DIR"
  set -- "$@" --data-dir "$data"
fi
rm -rf "$work"
mkdir -p "$work"

run() {  # run <dir> [extra args...]
  local dir=$1
  shift
  "$@" > "$dir.out" 2> "$dir.err" || { echo "FAILED: $* (exit $?)"; cat "$dir.err"; return 1; }
}

# Rows without the seconds column (the 2nd).
rows() { cut -d, -f1,3- "$1"; }

run "$work/whole" "$@" --out-dir "$work/whole"

# Killed from outside after the first checkpoint.
"$@" --out-dir "$work/killed" > "$work/killed.out" 2> "$work/killed.err" &
pid=$!
for _ in $(seq 1 6000); do
  [[ -e "$work/killed/$checkpoint" ]] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
if kill -9 "$pid" 2> /dev/null; then
  wait "$pid" 2> /dev/null || true
  echo "killed from outside with $(($(wc -l < "$work/killed/$log") - 1)) log rows written"
else
  wait "$pid" 2> /dev/null || true
  echo "NOTE: the run ended before the outside kill; only the self-kill tests a kill"
fi
if [[ ! -e "$work/killed/$checkpoint" ]]; then
  echo "FAILED: no checkpoint before the kill"
  cat "$work/killed.err"
  exit 1
fi
run "$work/killed.resumed" "$@" --out-dir "$work/killed" --resume

# Killed by itself between a log row and its checkpoint.
set +e
(MANN_EXAMPLES_TEST_KILL_AFTER_ROWS=2 exec "$@" --out-dir "$work/hooked" > "$work/hooked.out" 2> "$work/hooked.err")
status=$?
set -e
if [[ $status -ne 137 ]]; then
  echo "FAILED: the self-kill after the 2nd row did not happen (exit $status)"
  cat "$work/hooked.err"
  exit 1
fi
echo "after the self-kill: $(($(wc -l < "$work/hooked/$log") - 1)) log rows"
run "$work/hooked.resumed" "$@" --out-dir "$work/hooked" --resume

failed=0
for variant in killed hooked; do
  if ! diff <(rows "$work/whole/$log") <(rows "$work/$variant/$log") > "$work/$variant.diff"; then
    echo "FAILED: the $variant run's log differs from the uninterrupted run's (< whole, > $variant):"
    cat "$work/$variant.diff"
    failed=1
  fi
  if ! cmp -s "$work/whole/$checkpoint" "$work/$variant/$checkpoint"; then
    echo "FAILED: the $variant run's checkpoint differs from the uninterrupted run's"
    failed=1
  fi
done
if [[ $failed -eq 0 ]]; then
  echo "resume after kill -9: $(($(wc -l < "$work/whole/$log") - 1)) log rows and the checkpoint equal to the uninterrupted run's"
fi
exit $failed
