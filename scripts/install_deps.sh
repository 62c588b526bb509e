#!/usr/bin/env bash
# Installs the Debian 12 packages that build and test xlstm.cpp (uses sudo when not root).
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git
      nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev libopenblas-dev
      libcpp-httplib-dev libgtest-dev libbenchmark-dev
      python3 python3-dev python3-numpy python3-pytest pybind11-dev bible-kjv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
