#!/usr/bin/env bash
# Installs what is missing, builds Release, and runs the Omniglot example on its defaults: the MANN
# (LSTM 200, LRUA memory 128 x 40, 4 heads) trained for the paper's 100 000 episodes on 5-class
# one-hot episodes, evaluated on the 423 held-out characters (Santoro et al. Table 1).
# Extra arguments go to the example (see --help), e.g. --episodes 20000 or --model lstm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DMANN_BUILD_TESTS=OFF \
      -DMANN_BUILD_BENCH=OFF -DMANN_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$root/build-release" --target omniglot -j "$(nproc)"
exec "$root/build-release/examples/omniglot/omniglot" --out-dir "$root/out/omniglot" "$@"
