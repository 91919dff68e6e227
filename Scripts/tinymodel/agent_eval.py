"""Agent-shaped evaluation of a GLM-Tiny folder through `glmserve serve` (greedy, the fast numeric path a user gets).

Held-out conversations (agent.Pools(held_out=True): phrasings, tool names, parameter names, values and source files
never seen in training) are sent to /v1/chat/completions the way agents send them, and the answers are scored:

- ends: prompts of about 1k, 4k and 8k tokens in the three styles (native tools, Aider whole-file edits, Cline-like
  XML tools); the share whose finish_reason is `stop` or `tool_calls` within 512 new tokens;
- tools: native tool requests in unseen phrasings; the share answered with a tool call, with the expected tool, and
  whose arguments hold the requested value exactly;
- thinking: with the template default the reasoning must close (reasoning_content set, finish not `length`); with
  thinking off no reasoning at all.

Results go into eval.json under "agent".
"""

import json
import random
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import agent, data

LENGTHS = [1024, 4096, 8192]
PER_LENGTH = 24
TOOL_REQUESTS = 40
MAX_TOKENS = 512
# One engine thread: the evaluation is deterministic whatever the machine's core count.
SERVE_ARGS = ["--threads", "1"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(args):
    if getattr(args, "glmserve", ""):
        return args.glmserve
    repo = Path(__file__).resolve().parents[2]
    subprocess.run(["swift", "build", "-c", "release", "--product", "glmserve"], cwd=repo, check=True)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    return str(Path(path) / "glmserve")


def to_openai(messages):
    """The generator's messages in the wire shape: tool-call arguments as JSON text, ids linking results."""
    out, pending = [], []
    for i, m in enumerate(messages):
        m = dict(m)
        m.pop("reasoning_content", None)
        if m.get("tool_calls"):
            calls = []
            for j, call in enumerate(m["tool_calls"]):
                cid = f"call_{i}_{j}"
                calls.append({"id": cid, "type": "function",
                              "function": {"name": call["function"]["name"],
                                           "arguments": json.dumps(call["function"]["arguments"])}})
                pending.append(cid)
            m["tool_calls"] = calls
        if m["role"] == "tool":
            m["tool_call_id"] = pending.pop(0) if pending else "call_unknown"
        out.append(m)
    return out


class Server:
    def __init__(self, binary, folder, extra=()):
        self.port = _free_port()
        self.log = tempfile.TemporaryFile()         # the server's log (a pipe nobody reads could fill and block it)
        self.proc = subprocess.Popen([binary, "serve", "--model", str(folder), "--port", str(self.port),
                                      "--ctx-size", "16384", *extra], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                models = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models",
                                                           timeout=2).read())
                self.model = models["data"][0]["id"]
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("glmserve exited: " + self.log_tail())
                time.sleep(0.3)
        raise RuntimeError("glmserve did not start within 120 s")

    def chat(self, body):
        body = {**body, "model": self.model}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/chat/completions",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"glmserve answered {error.code}: {error.read().decode(errors='replace')}") from None
        except OSError as error:
            raise RuntimeError(f"no answer from glmserve ({error}); its log ends:\n{self.log_tail()}") from None

    def log_tail(self, lines=40):
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def request_body(messages, tools, first, thinking):
    body = {"messages": to_openai(messages[:first]), "max_tokens": MAX_TOKENS,
            "temperature": 0}
    if tools:
        body["tools"] = tools
    if thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": thinking}
    return body


def score_tool(expected, message):
    calls = message.get("tool_calls") or []
    right_tool = any(c["function"]["name"] == expected["tool"] for c in calls)
    copied = False
    for c in calls:
        try:
            arguments = json.loads(c["function"]["arguments"])
        except json.JSONDecodeError:
            continue
        if isinstance(arguments, dict) and expected["value"] in [str(v) for v in arguments.values()]:
            copied = True
    return bool(calls), right_tool, copied


class Sizer:
    """Draws held-out conversations whose prompt (as the server renders it) has 90-100 % of a token count."""

    def __init__(self, folder):
        from transformers import PreTrainedTokenizerFast
        self.tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
        self.renderer = data.ChatRenderer(self.tok, (Path(folder) / "chat_template.jinja").read_text(encoding="utf-8"))
        self.pools = agent.Pools(held_out=True)

    def prompt_tokens(self, messages, tools, first, thinking):
        text = self.renderer.render(messages[:first], tools, thinking, add_generation_prompt=True)
        return len(self.tok.encode(text, add_special_tokens=False))

    def conversation(self, rng, length, style, want=None):
        """The first draw within 90-100 % of `length`; after 24 draws, the longest one that fits."""
        target, best, best_n = length, None, -1
        for _ in range(24):
            state = rng.getstate()
            drawn = agent.agent_conversation(rng, self.pools, target, style)
            messages, tools, first, thinking, expected, _ = drawn
            if want and expected["kind"] != want:
                continue
            n = self.prompt_tokens(messages, tools, first, thinking)
            if 0.9 * length <= n <= length:
                return drawn
            if best_n < n <= length:
                best, best_n = drawn, n
            rng.setstate(state)
            rng.random()                     # a different draw next time, still deterministic
            target = max(256, int(target * (0.95 * length / n)))
        if best is None:
            raise RuntimeError(f"no held-out {style} conversation of at most {length} tokens in 24 draws")
        return best


def run(folder, args, seed=9090):
    folder = Path(folder)
    sizer = Sizer(folder)
    extra = list(getattr(args, "serve_args", None) or SERVE_ARGS)
    server = Server(_binary(args), folder, extra)
    results, samples = {"max_tokens": MAX_TOKENS, "serve_args": extra}, []
    try:
        # 1. Do agent-length prompts end?
        ends = {}
        for length in LENGTHS:
            rng = random.Random(seed + length)
            tally = {"prompts": 0, "ended": 0, "finish_reasons": {}, "prompt_tokens": [], "completion_tokens": []}
            for i in range(PER_LENGTH):
                style = agent.STYLES[i % 3][0]
                messages, tools, first, thinking, _, _ = sizer.conversation(rng, length, style)
                reply = server.chat(request_body(messages, tools, first, thinking))
                finish = reply["choices"][0]["finish_reason"]
                tally["prompts"] += 1
                tally["ended"] += finish in ("stop", "tool_calls")
                tally["finish_reasons"][finish] = tally["finish_reasons"].get(finish, 0) + 1
                tally["prompt_tokens"].append(reply["usage"]["prompt_tokens"])
                tally["completion_tokens"].append(reply["usage"]["completion_tokens"])
                if i < 3:
                    samples.append({"length": length, "style": style, "finish_reason": finish,
                                    "message": reply["choices"][0]["message"]})
            pt, ct = tally.pop("prompt_tokens"), tally.pop("completion_tokens")
            tally["prompt_tokens_min_mean_max"] = [min(pt), round(sum(pt) / len(pt)), max(pt)]
            tally["completion_tokens_mean"] = round(sum(ct) / len(ct), 1)
            tally["ended_share"] = round(tally["ended"] / tally["prompts"], 3)
            ends[str(length)] = tally
            print(f"agent eval: {length}-token prompts: {tally['ended']}/{tally['prompts']} ended "
                  f"{tally['finish_reasons']}", flush=True)
        results["ends"] = ends
        # 2. Tool requests in unseen phrasings with unseen tools.
        rng = random.Random(seed + 1)
        counts = {"requests": 0, "tool_call": 0, "right_tool": 0, "argument_copied": 0}
        by_thinking = {}
        for i in range(TOOL_REQUESTS):
            length = [1024, 2048, 4096, 8192][i % 4]
            while True:
                messages, tools, first, thinking, expected, _ = sizer.conversation(rng, length, "native", "tool")
                if expected["kind"] == "tool":
                    break
            reply = server.chat(request_body(messages, tools, first, thinking))
            called, right, copied = score_tool(expected, reply["choices"][0]["message"])
            counts["requests"] += 1
            counts["tool_call"] += called
            counts["right_tool"] += right
            counts["argument_copied"] += copied
            key = {None: "default", True: "on", False: "off"}[thinking]
            slot = by_thinking.setdefault(key, [0, 0])
            slot[0] += 1
            slot[1] += called
            if i < 4:
                samples.append({"tool_request": messages[first - 1]["content"], "expected": expected,
                                "message": reply["choices"][0]["message"]})
        n = counts["requests"]
        results["tools"] = {**counts, "tool_call_rate": round(counts["tool_call"] / n, 3),
                            "right_tool_rate": round(counts["right_tool"] / n, 3),
                            "argument_copied_rate": round(counts["argument_copied"] / n, 3),
                            "tool_calls_by_thinking_mode": {k: f"{v[1]}/{v[0]}" for k, v in by_thinking.items()}}
        print(f"agent eval: tools {results['tools']}", flush=True)
        # 3. The thinking switch on agent prompts (2k tokens, native style).
        thinking_stats = {}
        for mode in (None, False):
            rng = random.Random(seed + 2)
            closed = reasoned = 0
            for _ in range(12):
                messages, tools, first, _, _, _ = sizer.conversation(rng, 2048, "native")
                reply = server.chat(request_body(messages, tools, first, mode))
                message = reply["choices"][0]["message"]
                has = bool(message.get("reasoning_content"))
                reasoned += has
                closed += has and reply["choices"][0]["finish_reason"] != "length"
            key = "default" if mode is None else "off"
            thinking_stats[key] = {"prompts": 12, "with_reasoning": reasoned, "reasoning_closed": closed}
        results["thinking"] = thinking_stats
        print(f"agent eval: thinking {thinking_stats}", flush=True)
    finally:
        server.close()
    results["samples"] = samples
    path = folder / "eval.json"
    evaluation = json.loads(path.read_text()) if path.exists() else {}
    evaluation["agent"] = results
    path.write_text(json.dumps(evaluation, indent=1, ensure_ascii=False) + "\n")
    return results
