#!/usr/bin/env bash
# Configures and builds detkit into ./build (Release, 2 jobs by default: DETKIT_JOBS overrides).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${DETKIT_JOBS:-2}
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$root/build" -j"$jobs"
