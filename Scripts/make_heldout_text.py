"""Writes Tests/Fixtures/heldout-code.txt: held-out text for `glmserve perplexity` on Models/GLM-Tiny.

GLM-Tiny's code corpus is the top-level modules of CPython 3.11.7's standard library with every 16th module (by
sorted name, index % 16 == 7) held out (Scripts/tinymodel/data.py). This joins four of those held-out modules,
which the model never trained on. Run with CPython 3.11.7 from the repository root (no other dependencies).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinymodel import data  # noqa: E402

CHOSEN = ["fnmatch.py", "imp.py", "numbers.py", "shlex.py"]

if __name__ == "__main__":
    assert sys.version_info[:3] == (3, 11, 7), "the corpus is CPython 3.11.7's standard library"
    _, held_out = data.split_code_files(data.stdlib_files())
    by_name = {p.name: p for p in held_out}
    text = "\n\n".join(data.read_text(by_name[name]) for name in CHOSEN)
    out = Path("Tests/Fixtures/heldout-code.txt")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(text)} characters from {', '.join(CHOSEN)}")
