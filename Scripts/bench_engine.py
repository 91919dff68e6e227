#!/usr/bin/env python3
"""Engine benchmark in interleaved rounds: `glmserve bench --roofline --json` for every (model, numeric mode,
threads) case, round after round, so that every case sees the same drift of this shared machine; prints the median
of each figure over the rounds, with the read bandwidth measured inside each run.

    python3 Scripts/make_random_glm.py --output bench-models/air-bf16 --hidden-size 4096 --layers 3 --experts 128 \\
        --active-experts 8 --moe-intermediate 1408 --intermediate 10944 --heads 96 --kv-heads 8 --head-dim 128 \\
        --first-k-dense-replace 1 --vocab 2048 --no-qk-norm
    python3 Scripts/bench_engine.py --model bench-models/air-bf16 --model bench-models/air-fp8 --threads 2 --threads 1 \\
        --modes fast exact --rounds 3 --prompt-tokens 512

Each model's files are read once into the page cache first (`cat`), and `bench` pre-faults its weights, so no
timed pass reads from disk. Needs only the standard library.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="model folder (repeatable)")
    ap.add_argument("--threads", action="append", type=int, help="thread count (repeatable; default 2)")
    ap.add_argument("--modes", nargs="+", default=["fast"], choices=["fast", "exact"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--binary", default=str(ROOT / ".build" / "release" / "glmserve"))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more bench options, e.g. --quantize q8")
    args = ap.parse_args()
    threads = args.threads or [2]
    for model in args.model:
        for f in sorted(Path(model).glob("*.safetensors")):
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
    cases = [(m, mode, t) for m in args.model for mode in args.modes for t in threads]
    results = {case: [] for case in cases}
    for r in range(args.rounds):
        for case in cases:
            model, mode, t = case
            cmd = [args.binary, "bench", "--model", model, "--threads", str(t), "--roofline", "--json",
                   "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
                   "--repeats", "1", *(["--exact"] if mode == "exact" else []), *args.extra]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
            report = json.loads(out.stdout)
            results[case].append(report)
            print(f"round {r + 1}: {Path(model).name} {mode} {t}t: decode {report['decode_tokens_per_second']:.2f} t/s "
                  f"({100 * report['decode_bandwidth_fraction']:.0f}% of {report['bandwidth_gbps']:.1f} GB/s), "
                  f"prefill {report['prefill_tokens_per_second']:.1f} t/s = {report['prefill_gflops']:.0f} GFLOP/s",
                  file=sys.stderr, flush=True)
    med = statistics.median
    print("| model | mode | threads | read GB/s | decode t/s | decode GB/s | % of bandwidth | prefill t/s | prefill GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case, reports in results.items():
        model, mode, t = case
        print(f"| {Path(model).name} | {mode} | {t} | {med(r['bandwidth_gbps'] for r in reports):.1f} "
              f"| {med(r['decode_tokens_per_second'] for r in reports):.2f} "
              f"| {med(r['decode_weight_gbps'] for r in reports):.1f} "
              f"| {100 * med(r['decode_bandwidth_fraction'] for r in reports):.0f} % "
              f"| {med(r['prefill_tokens_per_second'] for r in reports):.1f} "
              f"| {med(r['prefill_gflops'] for r in reports):.0f} |")


if __name__ == "__main__":
    main()
