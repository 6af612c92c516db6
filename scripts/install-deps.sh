#!/usr/bin/env bash
# Installs the Debian 12 packages mann needs to build its tests, benchmarks and examples
# (only those missing; needs root or sudo).
set -euo pipefail
packages=(cmake g++ make libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
          libpng-dev libzip-dev pkg-config libcli11-dev gnuplot-nox clang openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "mann: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
