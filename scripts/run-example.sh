#!/usr/bin/env bash
# Installs what is missing, builds Release, and runs the Omniglot example: the MANN (LSTM 200, LRUA
# memory 128 x 40, 4 heads, the paper's sizes) on 5-class one-hot episodes, evaluated on the 423
# held-out characters (Santoro et al. Table 1). The bounded default here is 40 000 episodes with
# RMSProp lr 1e-3 and read sharpness 10, the settings that learn fastest in docs/results.md (about
# 10 minutes on 2 cores); the binary's own defaults are the paper's (100 000 episodes, lr 1e-4).
# Extra arguments go to the example and override these (see --help), e.g. --episodes 100000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DMANN_BUILD_TESTS=OFF \
      -DMANN_BUILD_BENCH=OFF -DMANN_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$root/build-release" --target omniglot -j "$(nproc)"
exec "$root/build-release/examples/omniglot/omniglot" --out-dir "$root/out/omniglot" \
  --episodes 40000 --learning-rate 1e-3 --read-sharpness 10 "$@"
