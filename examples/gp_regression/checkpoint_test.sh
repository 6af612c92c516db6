#!/usr/bin/env bash
# Checks of gp_regression's settings and checkpoints (tiny sizes, a few seconds):
# * bad numbers are refused at once with a short message naming the option;
# * an output folder that cannot be made fails before any training;
# * --eval-only and --resume take the model's settings from the checkpoint (a setting given with
#   another value is an error naming both values);
# * a checkpoint with a bad or missing episodes_done, or without the head's settings (an older
#   version), is a clear error naming the file and the field.
#   checkpoint_test.sh <gp_regression binary> <work dir>
set -uo pipefail
binary=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

# expect_error <expected exit> <text the error must contain> <arguments...>
expect_error() {
  local expected=$1 text=$2
  shift 2
  "$binary" "$@" > "$work/out" 2> "$work/err"
  local status=$?
  if [[ $status -ne $expected ]]; then
    fail "gp_regression $* exited $status, expected $expected: $(cat "$work/err")"
  elif ! grep -qF -- "$text" "$work/err"; then
    fail "gp_regression $*: the error lacks \"$text\": $(cat "$work/err")"
  elif [[ $(wc -c < "$work/err") -gt 400 ]]; then
    fail "gp_regression $*: an error of $(wc -c < "$work/err") characters: $(cat "$work/err")"
  fi
}

# Numbers checked when parsed (the other options tiny, in case a bad number is taken).
quick=(--dims 1 --episodes 0 --test-episodes 2 --out-dir "$work/quick")
expect_error 2 "--seed: -1 is not an integer in [0, 2^64 - 1]" "${quick[@]}" --seed -1
expect_error 2 "--learning-rate: inf is not a finite number > 0" "${quick[@]}" --learning-rate inf
expect_error 2 "--learning-rate: nan is not a finite number > 0" "${quick[@]}" --learning-rate nan
expect_error 2 "--learning-rate: 0 is not a finite number > 0" "${quick[@]}" --learning-rate 0
expect_error 2 "--read-sharpness: -1 is not a finite number > 0" "${quick[@]}" --read-sharpness -1
expect_error 2 "--episodes: Value -5 not in range" "${quick[@]}" --episodes -5

# An output folder that cannot be made: refused before training.
touch "$work/file"
expect_error 1 "cannot create the output folder $work/file/out" --dims 1 --out-dir "$work/file/out"
grep -q "training the MANN" "$work/err" && fail "gp_regression trained before checking --out-dir"

tiny=(--dims 1 --threads 2 --eval-episodes 16 --test-episodes 32 --eval-every 32)
sizes=(--controller-size 16 --memory-slots 16 --memory-width 8 --heads 2 --episode-length 10 --read-sharpness 10)
out="$work/run"
"$binary" "${tiny[@]}" "${sizes[@]}" --episodes 64 --out-dir "$out" > "$work/train.out" 2> "$work/train.err" ||
  fail "training failed: $(cat "$work/train.err")"
checkpoint="$out/mann_1d.safetensors"
grep -aq '"head.read_sharpness":"10"' "$checkpoint" || fail "the checkpoint lacks head.read_sharpness = 10"

# --eval-only without the settings: the checkpoint's (the same table as with them all given).
"$binary" "${tiny[@]}" --eval-only --out-dir "$out" > "$work/eval_plain.out" 2> "$work/eval_plain.err" ||
  fail "--eval-only without settings failed: $(cat "$work/eval_plain.err")"
"$binary" "${tiny[@]}" "${sizes[@]}" --eval-only --out-dir "$out" > "$work/eval_given.out" 2> "$work/eval_given.err" ||
  fail "--eval-only with the settings failed: $(cat "$work/eval_given.err")"
if ! diff <(grep '^|' "$work/eval_plain.out") <(grep '^|' "$work/eval_given.out") > /dev/null; then
  fail "--eval-only without the settings gave another table than with them:
$(cat "$work/eval_plain.out")
$(cat "$work/eval_given.out")"
fi
# Given with another value: an error naming both.
expect_error 1 "--read-sharpness 1 differs from the checkpoint's head.read_sharpness = 10 ($checkpoint)" \
  "${tiny[@]}" --eval-only --out-dir "$out" --read-sharpness 1
expect_error 1 "--memory-slots 128 differs from the checkpoint's head.slots = 16" \
  "${tiny[@]}" --resume --episodes 96 --out-dir "$out" --memory-slots 128
# --resume without the settings continues the same model.
"$binary" "${tiny[@]}" --resume --episodes 96 --out-dir "$out" > "$work/resume.out" 2> "$work/resume.err" ||
  fail "--resume without settings failed: $(cat "$work/resume.err")"
grep -q "loaded $checkpoint (64 episodes trained)" "$work/resume.err" || fail "--resume did not load: $(cat "$work/resume.err")"

# Damaged metadata (same length, so the header stays valid): clear errors naming file and field.
damage() {  # damage <name> <from> <to>: a copy of the checkpoint in its own folder
  mkdir -p "$work/$1"
  LC_ALL=C sed "s/$2/$3/" "$checkpoint" > "$work/$1/mann_1d.safetensors"
}
damage negative '"episodes_done":"96"' '"episodes_done":"-9"'
expect_error 1 "checkpoint $work/negative/mann_1d.safetensors: mann::metadata_int: metadata \"episodes_done\" is \"-9\", expected an integer in [0, " \
  "${tiny[@]}" --resume --episodes 128 --out-dir "$work/negative"
damage garbage '"episodes_done":"96"' '"episodes_done":"9x"'
expect_error 1 "metadata \"episodes_done\" is \"9x\", expected an integer in [0, " \
  "${tiny[@]}" --eval-only --out-dir "$work/garbage"
damage missing '"episodes_done":"96"' '"episodes_gone":"96"'
expect_error 1 "checkpoint $work/missing/mann_1d.safetensors: mann::metadata_int: metadata has no \"episodes_done\"" \
  "${tiny[@]}" --resume --episodes 128 --out-dir "$work/missing"
# An older checkpoint without the head's read sharpness: say which field and option.
damage old '"head.read_sharpness":"10"' '"head.read_sharpnesX":"10"'
expect_error 1 "has no metadata field head.read_sharpness (written by an older version?); give --read-sharpness" \
  "${tiny[@]}" --eval-only --out-dir "$work/old"
"$binary" "${tiny[@]}" --eval-only --out-dir "$work/old" --read-sharpness 10 > /dev/null 2> "$work/old.err" ||
  fail "an older checkpoint with --read-sharpness given failed: $(cat "$work/old.err")"

if [[ $failures -eq 0 ]]; then echo "gp_regression settings and checkpoint checks passed"; fi
exit $((failures > 0))
