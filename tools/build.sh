#!/usr/bin/env bash
# Configures and builds detkit into ./build (Release; 2 jobs unless DETKIT_JOBS says otherwise;
# DETKIT_BUILD_DIR names another folder). A new build folder uses Ninja when it is installed: it
# recompiles only what changed when a source file is added (Make recompiles the whole target,
# whose per-source precompiled-header flags live in one file).
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
build=${DETKIT_BUILD_DIR:-$root/build}
generator=()
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j"$jobs" "${targets[@]}"
