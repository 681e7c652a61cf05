#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test with ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tools/install_deps.sh" --with-python
"$root/tools/build.sh" -- -DDETKIT_BUILD_TESTS=ON
cd "${DETKIT_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j"${DETKIT_JOBS:-2}"
