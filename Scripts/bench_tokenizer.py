#!/usr/bin/env python3
"""Benchmark GLMServe's Swift tokenizer against Hugging Face `tokenizers` on the same text, and check that
both produce the same ids.

Installs nothing. Run it with a Python that has the pinned package, e.g.

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r Scripts/requirements-bench.txt
    swift build -c release --product glmserve
    .venv-bench/bin/python Scripts/bench_tokenizer.py

Text: the first few MB of the CPython standard library's top-level modules (found through `os.__file__`).
Tokenizers: the fixture (Tests/Fixtures/tokenizer, 4132 ids) and a synthetic GLM-sized one built here
(BPE trained on the text, padded to 151329 vocabulary entries by extending trained tokens by one character,
and to 318088 merges with other splits of existing entries, plus the 36 GLM added tokens at 151329-151364), which also measures the load time of a 150k vocabulary.
Times are wall clock and CPU (the machine may be shared); `glmserve tokenize --timings` reports its own.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
GLM_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
REAL_VOCABULARY_ENTRIES = 151329
REAL_MERGES = 318088


def corpus_texts(megabytes):
    directory = os.path.dirname(os.__file__)
    texts, total = [], 0
    for path in sorted(glob.glob(os.path.join(directory, "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        texts.append(text)
        total += len(text.encode())
        if total >= megabytes * 1_000_000:
            break
    return texts


def synthetic_tokenizer(corpus_path, directory, ignore_merges):
    """A GLM-shaped tokenizer.json with a real-sized vocabulary and merge list."""
    tokenizer = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=REAL_VOCABULARY_ENTRIES, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([corpus_path], trainer)
    data = json.loads(tokenizer.to_str())
    vocab, merges = data["model"]["vocab"], data["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    rng = random.Random(1234)
    trained = list(vocab)
    extensions = list("etaoinsrhldcumfpgwybvkxjqz_ETAOINSRHLDCUMFPGWYBVKXJQZ0123456789") + ["Ġ", "Ċ", "(", ")", ".", ",", ":"]
    for character in extensions:  # new entries: trained tokens extended by one character, one merge each
        for token in trained:
            if len(vocab) >= REAL_VOCABULARY_ENTRIES:
                break
            if len(token) <= 12 and token + character not in vocab:
                vocab[token + character] = len(vocab)
                merges.append([token, character])
    tokens = list(vocab)
    known = {tuple(m) for m in merges}
    alternatives = [(token[:cut], token[cut:]) for token in tokens for cut in range(1, len(token))
                    if token[:cut] in vocab and token[cut:] in vocab and (token[:cut], token[cut:]) not in known]
    rng.shuffle(alternatives)  # other ways to build existing entries, as real vocabularies have
    merges.extend(list(pair) for pair in alternatives[:max(0, REAL_MERGES - len(merges))])
    data["model"]["merges"] = merges
    with open(os.path.join(FIXTURE, "tokenizer.json"), encoding="utf-8") as handle:
        glm_added = json.load(handle)["added_tokens"]
    data["added_tokens"] = [dict(token, id=len(vocab) + index) for index, token in enumerate(glm_added)]
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
    return len(vocab), len(merges)


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bench(name, directory, texts, corpus_path, glmserve):
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    whole = "".join(texts)
    path = os.path.join(directory, "tokenizer.json")
    print(f"== {name}: {path} ({os.path.getsize(path) / 1e6:.1f} MB file), text {megabytes:.2f} MB")
    tokenizer, wall, cpu = timed(lambda: Tokenizer.from_file(path))
    print(f"tokenizers load: {wall:.3f} s wall, {cpu:.3f} s cpu")
    _, wall, cpu = timed(lambda: [tokenizer.encode(t, add_special_tokens=False) for t in texts])
    print(f"tokenizers encode, one call per file: {megabytes / wall:.2f} MB/s wall, {megabytes / cpu:.2f} MB/s cpu")
    encoding, wall, cpu = timed(lambda: tokenizer.encode(whole, add_special_tokens=False))
    print(f"tokenizers encode, whole text in one call: {megabytes / wall:.2f} MB/s wall, {megabytes / cpu:.2f} MB/s cpu")
    with open(corpus_path, "rb") as stdin:
        run = subprocess.run([glmserve, "tokenize", "--model", directory, "--timings"], stdin=stdin,
                             capture_output=True, check=True)
    print("glmserve:", run.stderr.decode().strip())
    same = json.loads(run.stdout) == encoding.ids
    print(f"same ids as tokenizers: {same} ({len(encoding.ids)} tokens)")
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glmserve", default=os.path.join(ROOT, ".build", "release", "glmserve"))
    parser.add_argument("--megabytes", type=float, default=4.0, help="size of the benchmark text")
    parser.add_argument("--workdir", default=None, help="where to write the text and the synthetic tokenizer")
    parser.add_argument("--ignore-merges", action="store_true", help="synthetic tokenizer with ignore_merges")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="glmserve-tokbench-")
    os.makedirs(workdir, exist_ok=True)
    texts = corpus_texts(args.megabytes)
    corpus_path = os.path.join(workdir, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as handle:
        handle.write("".join(texts))
    ok = bench("fixture tokenizer", FIXTURE, texts, corpus_path, args.glmserve)
    synthetic = os.path.join(workdir, "synthetic-150k")
    entries, merges = synthetic_tokenizer(corpus_path, synthetic, args.ignore_merges)
    print(f"synthetic tokenizer: {entries} vocabulary entries, {merges} merges, ignore_merges={args.ignore_merges}")
    ok = bench("synthetic 150k tokenizer", synthetic, texts, corpus_path, args.glmserve) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
