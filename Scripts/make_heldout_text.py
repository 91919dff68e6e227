#!/usr/bin/env python3
"""Writes the held-out text that perplexity is measured on (`glmserve perplexity`, the fast-path, quantisation and
KV-type quality checks): four standard-library modules that GLM-Tiny never saw in training
(`Scripts/tinymodel/data.py` holds out every 16th module by sorted name), concatenated with a file header each.

    python3 Scripts/make_heldout_text.py            # writes Tests/Fixtures/heldout/stdlib-heldout.txt

The modules are the PSF-licensed sources of the interpreter that runs this (CPython 3.11.7 made the committed file).
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tinymodel import data  # noqa: E402

MODULES = ["fnmatch.py", "shlex.py", "numbers.py", "_markupbase.py"]


def main():
    _, held_out = data.split_code_files(data.stdlib_files())
    by_name = {p.name: p for p in held_out}
    missing = [m for m in MODULES if m not in by_name]
    if missing:
        sys.exit(f"not held out by Scripts/tinymodel/data.py on this interpreter: {missing}")
    text = "".join(f"# file: {name}\n{data.read_text(by_name[name])}\n" for name in MODULES)
    out = HERE.parent / "Tests" / "Fixtures" / "heldout" / "stdlib-heldout.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(HERE.parent)}: {len(text.encode())} bytes")


if __name__ == "__main__":
    main()
