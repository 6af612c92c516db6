#!/usr/bin/env bash
# Installs what is missing, builds Release, and runs the Omniglot example: the MANN (LSTM 200, LRUA
# memory 128 x 40, 4 heads, the paper's sizes) on 5-class one-hot episodes, evaluated on the 423
# held-out characters (Santoro et al. Table 1). The bounded default here is 400 000 episodes of the
# paper's RMSProp, its lr 1e-4 falling as a cosine to 1e-5, with the library's default read
# (w_r = softmax(10 K), cosine norms with epsilon 1e-2; docs/results.md says why). Extra arguments go
# to the example and override these (see --help), e.g. --episodes 1500000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release -DMANN_BUILD_TESTS=OFF \
      -DMANN_BUILD_BENCH=OFF -DMANN_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$root/build-release" --target omniglot -j "$(nproc)"
exec "$root/build-release/examples/omniglot/omniglot" --out-dir "$root/out/omniglot" \
  --episodes 400000 --learning-rate 1e-4 --final-learning-rate 1e-5 "$@"
