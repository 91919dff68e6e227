#!/usr/bin/env bash
# Builds GLMServe (release) and serves a model: the bundled Models/GLM-Tiny unless --model is given.
# Every argument goes to `glmserve serve` (see `glmserve serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-deps.sh
swift build -c release --product glmserve
exec "$(swift build -c release --show-bin-path)/glmserve" serve "$@"
