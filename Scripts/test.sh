#!/usr/bin/env bash
# GLMServe's test command (the one README.md names and .ci/run calls):
#   1. `swift test`: unit and model tests, no Python needed;
#   2. integration tests: a real `glmserve serve` on a loopback port, driven by curl and the
#      `openai` Python package (installed into .venv from Tests/Integration/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-deps.sh

echo "== swift test"
swift test --disable-swift-testing 2>&1

if compgen -G "Tests/Integration/test_*.py" > /dev/null; then
    echo "== integration tests"
    swift build -c release --product glmserve
    if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -r Tests/Integration/requirements.txt
    GLMSERVE_BIN="$(swift build -c release --show-bin-path)/glmserve" \
        .venv/bin/python -m pytest -q Tests/Integration
fi
