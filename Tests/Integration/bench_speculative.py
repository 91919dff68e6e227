"""Prints figures (not a test): decode tokens/s of `glmserve serve` plain vs `--speculative mtp`, side by side.

    GLMSERVE_BIN=.build/release/glmserve python3 Tests/Integration/bench_speculative.py [MODEL_DIR] [MAX_TOKENS]

Starts the server both ways on MODEL_DIR (default Models/GLM-Tiny), sends the same greedy chat requests to each,
checks the answers are equal (stop ids banned, so each runs to MAX_TOKENS), and reads the decode speed and draft counts from the servers' generation log lines.
"""
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO, RunningServer, http  # noqa: E402

model = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "Models" / "GLM-Tiny"
max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 200
prompts = ["Write a Python function that checks whether a number is prime.",
           "Write a Python class for a stack with push, pop and peek.",
           "Write a Python function that merges two sorted lists."]
# Stop ids banned so every request decodes max_tokens tokens.
eos = json.loads((model / "generation_config.json").read_text()).get("eos_token_id", [])
ban = {str(i): -100 for i in (eos if isinstance(eos, list) else [eos])}
LINE = re.compile(r"completion (\d+) tokens, ([\d.]+) tok/s(?:; drafts (\d+), accepted (\d+))?")


def measure(*extra: str):
    server = RunningServer("--model", str(model), "--parallel", "1", *extra)
    try:
        answers = []
        for prompt in prompts:
            reply = http("POST", server.base_url + "/v1/chat/completions", timeout=600, json_body={
                "messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": max_tokens, "logit_bias": ban,
                "chat_template_kwargs": {"enable_thinking": False}})
            answers.append(reply.json()["choices"][0]["message"])
    finally:
        server.stop()
    tokens = seconds = drafted = accepted = 0
    for line in server.log:
        match = LINE.search(line)
        if match:
            n, rate = int(match.group(1)), float(match.group(2))
            tokens += n
            seconds += n / rate if rate > 0 else 0
            drafted += int(match.group(3) or 0)
            accepted += int(match.group(4) or 0)
    return answers, tokens, seconds, drafted, accepted


plain = measure()
speculative = measure("--speculative", "mtp")
print(f"model {model.name}, {len(prompts)} greedy requests, max_tokens {max_tokens}, --parallel 1")
for name, (_, tokens, seconds, drafted, accepted) in [("plain", plain), ("--speculative mtp", speculative)]:
    extra = f", drafts {drafted}, accepted {accepted} ({100 * accepted / drafted:.1f}%)" if drafted else ""
    print(f"{name:18} {tokens} tokens in {seconds:.3f} s decode = {tokens / seconds:.1f} tok/s{extra}")
print("answers identical:", plain[0] == speculative[0])
