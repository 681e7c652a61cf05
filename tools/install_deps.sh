#!/usr/bin/env bash
# Installs the Debian 12 packages detkit needs, only those that are missing.
# Usage: tools/install_deps.sh [--with-python]   (--with-python adds the Python reference stack)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libboost-dev libboost-program-options-dev
  libyaml-cpp-dev libfmt-dev libsimdjson-dev libpugixml-dev
  libopencv-dev
  libgloo-dev
  libgtest-dev libgmock-dev
)
if [[ "${1:-}" == "--with-python" ]]; then
  packages+=(python3-torch python3-torchvision)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "[deps] all ${#packages[@]} packages are installed"
  exit 0
fi
echo "[deps] installing: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
