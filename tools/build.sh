#!/usr/bin/env bash
# Configures and builds detkit into ./build (Release; 2 jobs unless DETKIT_JOBS says otherwise).
# Usage: tools/build.sh [--target T ...] [-- extra cmake configure options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${DETKIT_JOBS:-2}
targets=()
while (($#)); do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$root/build" -j"$jobs" "${targets[@]}"
