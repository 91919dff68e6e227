#!/bin/sh
# Perplexity of Models/GLM-Tiny on held-out Python modules (the ones its training left out, see the model card)
# with each --kv-type, through prefill (whole windows) and through the decode kernels (--step 1).
# Usage: Scripts/kv_type_perplexity.sh [glmserve binary]   (needs python3 for the standard-library path)
set -e
BIN=${1:-.build/release/glmserve}
LIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
TEXT=$(mktemp)
trap 'rm -f "$TEXT"' EXIT
for module in _markupbase fnmatch numbers shlex stringprep; do cat "$LIB/$module.py" >> "$TEXT"; done
for step in "" "--step 1"; do
    for kv in f32 bf16 q8; do
        printf '%-5s %-9s ' "$kv" "${step:-prefill}"
        "$BIN" perplexity --model Models/GLM-Tiny --file "$TEXT" --ctx 1024 --kv-type "$kv" $step --json 2>/dev/null
    done
done
