"""Time to first token of a repeated long prompt with the prefix cache (not a test; standard library only).

    python3 Scripts/bench_prefix_cache.py [--bin .build/release/glmserve] [--model Models/GLM-Tiny] [--tokens 8192]

Starts `glmserve serve --parallel 1` three ways and prints the time of a one-token completion (= time to first
token) of prompt A cold, of a different prompt B, of A again, and of A after a restart with the same --cache-dir:
  1. --cache-ram 0 (no prefix cache: the slot only reuses its own last sequence),
  2. the default prefix cache with --cache-dir, then a restart of the server on the same --cache-dir.
Prompts are pseudo-random token ids, so nothing is shared between A and B.
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, model, *extra):
        self.port = free_port()
        self.process = subprocess.Popen([binary, "serve", "--model", model, "--port", str(self.port), "--parallel", "1",
                                         "--ctx-size", "32768", *extra], stderr=subprocess.PIPE, text=True)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def complete(self, prompt):
        body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        answer = json.load(urllib.request.urlopen(request, timeout=600))
        return time.perf_counter() - start, answer["usage"]["prompt_tokens_details"]["cached_tokens"], answer["choices"][0]["text"]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/glmserve")
    parser.add_argument("--model", default="Models/GLM-Tiny")
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--extra", default="", help="more serve options, e.g. '--kv-type f32'")
    args = parser.parse_args()
    rng = random.Random(7)
    a = [rng.randrange(100, 8000) for _ in range(args.tokens)]
    b = [rng.randrange(100, 8000) for _ in range(args.tokens)]
    extra = args.extra.split()
    directory = tempfile.mkdtemp(prefix="glmserve-bench-cache-")
    try:
        def show(label, result, cold):
            seconds, cached, _ = result
            print(f"{label:<34} {seconds * 1000:9.1f} ms  cached {cached:6d}  ({100 * seconds / cold:5.1f}% of cold)")

        server = Server(args.bin, args.model, "--cache-ram", "0", *extra)
        cold = server.complete(a)
        show("no prefix cache: A cold", cold, cold[0])
        show("no prefix cache: B", server.complete(b), cold[0])
        show("no prefix cache: A again", server.complete(a), cold[0])
        server.stop()

        server = Server(args.bin, args.model, "--cache-dir", directory, *extra)
        cold = server.complete(a)
        show("prefix cache: A cold", cold, cold[0])
        show("prefix cache: B", server.complete(b), cold[0])
        warm = server.complete(a)
        show("prefix cache: A again", warm, cold[0])
        server.stop()

        server = Server(args.bin, args.model, "--cache-dir", directory, *extra)
        restarted = server.complete(a)
        show("after a restart (--cache-dir): A", restarted, cold[0])
        server.stop()
        print("same first token cold / warm / restarted:", cold[2] == warm[2] == restarted[2])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
