#!/usr/bin/env bash
# Installs the Debian packages GLMServe builds against, if any is missing (needs root or sudo).
set -euo pipefail
need=()
for p in libopenblas-dev libnuma-dev pkg-config curl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# The integration tests make a virtual environment: Debian's python3 needs python3-venv for that.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3 python3-venv); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "GLMServe needs these packages: ${need[*]}. Install them with: apt-get install -y ${need[*]}" >&2
    exit 1
fi
echo "installing: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
