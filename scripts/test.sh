#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite twice:
#   1. Release, -Wall -Wextra -Wpedantic -Werror (build-release/; tests and examples: the benchmarks
#      are left out to keep this under 20 minutes on 2 cores, build them with -DMANN_BUILD_BENCH=ON)
#   2. Debug + AddressSanitizer + UndefinedBehaviorSanitizer, built with clang (build-asan/): a second
#      compiler's warnings, and it builds instrumented Eigen code in ~70% of g++'s time. -O0 -g1 (line
#      tables for the reports); the whole-episode gradient checks get -O1 (tests/CMakeLists.txt).
# Tests on the real Omniglot data read it from $MANN_DATA_DIR, else data/omniglot in this repository
# (./scripts/run-example.sh downloads it there); without it they are skipped, saying so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
jobs=$(nproc)

echo "== Release build (warnings are errors) =="
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DMANN_BUILD_BENCH=OFF \
      -DMANN_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$root/build-release" -j "$jobs"
ctest --test-dir "$root/build-release" -j "$jobs" --output-on-failure

echo "== Debug build with AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S "$root" -B "$root/build-asan" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O0" -DMANN_SANITIZE=ON -DMANN_BUILD_BENCH=OFF -DMANN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build-asan" -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" -j "$jobs" --output-on-failure -E '^packaging\.' -LE learning
