"""Evaluation of a saved GLM-Tiny folder, loaded back from its BF16 files and run in float32 by transformers.

Writes eval.json (held-out losses, tool-call rate, think-block rates, MTP agreement, samples) and
reference_greedy.json (the ids an engine must reproduce) into the folder.
"""

import json
import random
import re
from pathlib import Path

import numpy as np
import torch
from transformers import Glm4MoeForCausalLM

from . import corpus, data
from . import model as tm

REFERENCE_PROMPTS = [
    "import os\n\n\ndef read_lines(path):\n",
    "class Stack:\n    def __init__(self):\n",
    "def main():\n    parser = ",
    "import sys\n\n\nclass Config:\n",
]
PYTHON_PROMPT = "import os\nimport sys\n\n\ndef main(argv):\n"

TOOL_CALL = re.compile(r"<tool_call>([^\n<]*)\n((?:<arg_key>(?:.*?)</arg_key>\n<arg_value>(?:.*?)</arg_value>\n)*)"
                       r"</tool_call>", re.S)
ARG = re.compile(r"<arg_key>(.*?)</arg_key>\n<arg_value>(.*?)</arg_value>\n", re.S)


def split_reasoning(text, prefilled):
    """Mimics the server: returns (reasoning or None, rest)."""
    if prefilled:
        return None, text
    s = text.lstrip()
    if not s.startswith("<think>"):
        return None, text
    body = s[len("<think>"):]
    end, call = body.find("</think>"), body.find("<tool_call>")
    if end >= 0 and (call < 0 or end < call):
        return body[:end].strip(), body[end + len("</think>"):]
    if call >= 0:
        return body[:call].strip(), body[call:]
    return body.strip(), ""


def parse_tool_calls(text, known):
    """GLM XML tool calls in `text` whose name is a known tool: [(name, {key: raw value})]."""
    calls = []
    for match in TOOL_CALL.finditer(text):
        name = match.group(1).strip()
        if name in known:
            calls.append((name, {k.strip(): v for k, v in ARG.findall(match.group(2))}))
    return calls


class Evaluator:
    def __init__(self, folder, hf_tok, template):
        self.folder = Path(folder)
        self.tok = hf_tok
        self.lm = Glm4MoeForCausalLM.from_pretrained(str(self.folder), dtype=torch.float32)
        self.lm.eval()
        self.mtp = tm.load_release_mtp(self.folder, self.lm.config)
        self.mtp.eval()
        self.renderer = data.ChatRenderer(hf_tok, template)
        self.eos = [hf_tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]

    @torch.no_grad()
    def forward(self, ids):
        return tm.mtp_logits(self.lm, self.mtp, torch.tensor([ids]))

    @torch.no_grad()
    def greedy(self, ids, max_new, stop=True):
        out = self.lm.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=max_new,
                               eos_token_id=self.eos if stop else None, pad_token_id=self.eos[0],
                               temperature=None, top_p=None, top_k=None)
        return out[0, len(ids):].tolist()

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=False)

    # (a) held-out loss ------------------------------------------------------------------------------------
    @torch.no_grad()
    def held_out_loss(self, seq_len, seed):
        _, held_files = data.split_code_files(data.stdlib_files())
        eot = self.eos[0]
        code, n_tokens = corpus.code_windows(self.tok, held_files, seq_len, eot)
        code = code[:24]
        chat, mask, _ = corpus.chat_sequences(self.tok, self.renderer, 160, seq_len, seed=seed, held_out=True,
                                              pad_id=eot)
        result = {}
        for name, seqs, masks in (("code", code, np.ones_like(code, dtype=bool)), ("chat_assistant", chat, mask)):
            tot = tot_mtp = n = n_mtp = 0.0
            agree = agree_n = 0
            for ids, m in zip(seqs, masks):
                x = torch.from_numpy(ids).unsqueeze(0)
                logits, mtp = tm.mtp_logits(self.lm, self.mtp, x)
                mm = torch.from_numpy(m).float()
                ce = torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:], reduction="none")
                tot += float((ce * mm[1:]).sum())
                n += float(mm[1:].sum())
                ce2 = torch.nn.functional.cross_entropy(mtp[0, :-1], x[0, 2:], reduction="none")
                tot_mtp += float((ce2 * mm[2:]).sum())
                n_mtp += float(mm[2:].sum())
                # MTP row i vs the main model's greedy token at position i+1 (two steps ahead of position i).
                hit = (mtp[0, :-1].argmax(-1) == logits[0, 1:-1].argmax(-1)).float()
                agree += float((hit * mm[2:]).sum())
                agree_n += float(mm[2:].sum())
            result[name] = {"sequences": int(len(seqs)), "tokens": int(n), "loss": round(tot / n, 4),
                            "mtp_loss": round(tot_mtp / n_mtp, 4), "mtp_agreement": round(agree / agree_n, 4)}
        result["code"]["held_out_files"] = [p.name for p in held_files]
        return result

    # (b) Python completion and the engine reference ---------------------------------------------------------
    @torch.no_grad()
    def reference_greedy(self, steps=24):
        chosen = None
        for prompt in REFERENCE_PROMPTS:
            ids = self.tok.encode(prompt, add_special_tokens=False)
            seq, margins, top5 = list(ids), [], None
            for _ in range(steps):
                logits = self.lm(torch.tensor([seq])).logits[0, -1]
                values, idx = logits.topk(5)
                if top5 is None:
                    top5 = {"ids": idx.tolist(), "logits": [round(float(v), 5) for v in values]}
                margins.append(float(values[0] - values[1]))
                seq.append(int(idx[0]))
            entry = {"prompt": prompt, "prompt_ids": ids, "greedy_ids": seq[len(ids):],
                     "greedy_text": self.decode(seq[len(ids):]), "margins": [round(m, 4) for m in margins],
                     "min_margin": round(min(margins), 4), "first_step_top5": top5}
            if chosen is None or entry["min_margin"] > chosen["min_margin"]:
                chosen = entry
            if entry["min_margin"] >= 0.05:
                break
        chosen["mtp_greedy"] = self.simulate_mtp_greedy(chosen["prompt_ids"], chosen["greedy_ids"])
        chosen.update({"steps": steps, "eos_stopping": False,
                       "how": "transformers 5.23.0 Glm4MoeForCausalLM loaded from the BF16 files in float32; full "
                              "forward over the whole sequence at each step, argmax of the last position's logits, "
                              "no EOS stopping, no BOS added (prompt ids = tokenizer.encode(prompt, "
                              "add_special_tokens=False))"})
        return chosen

    @torch.no_grad()
    def simulate_mtp_greedy(self, prompt, out):
        """Greedy decoding with one MTP draft per step, as the engine's generateGreedyWithMTP schedules it: the
        draft for the token after x = seq[p] is the MTP row p-1 (hN_{p-1}, t_p); an accepted draft also emits the
        bonus token. Returns the drafts proposed and accepted while emitting len(out) tokens."""
        seq = list(prompt) + list(out)
        _, mtp = self.forward(seq)
        top = mtp[0].topk(2, dim=-1)
        p, emitted, drafted, accepted, margins = len(prompt), 1, 0, 0, []
        while emitted < len(out):
            drafted += 1
            draft = int(top.indices[p - 1, 0])
            margins.append(float(top.values[p - 1, 0] - top.values[p - 1, 1]))
            if draft == seq[p + 1]:
                accepted += 1
                emitted += 1
                if emitted == len(out):
                    break
                emitted += 1
                p += 2
            else:
                emitted += 1
                p += 1
        return {"max_tokens": len(out), "drafted": drafted, "accepted": accepted,
                "min_draft_margin": round(min(margins), 4) if margins else None,
                "how": "MTP rows i pair the main model's post-norm hidden state at i with token i+1 (no masking)"}

    def python_sample(self, max_new=96):
        ids = self.tok.encode(PYTHON_PROMPT, add_special_tokens=False)
        out = self.greedy(ids, max_new, stop=False)
        return {"prompt": PYTHON_PROMPT, "completion": self.decode(out)}

    # (c) tool calls, (d) think blocks -----------------------------------------------------------------------
    def chat_prompt_ids(self, messages, tools, thinking):
        text = self.renderer.render(messages, tools, thinking, add_generation_prompt=True)
        return self.tok.encode(text, add_special_tokens=False)

    def spec_agreement(self, prompt_ids, out_ids):
        """Along a greedy continuation: MTP draft from (hN_i, t_{i+1}) vs the main model's next greedy token."""
        if len(out_ids) < 2:
            return 0, 0
        seq = prompt_ids + out_ids
        logits, mtp = self.forward(seq)
        start = len(prompt_ids) - 1
        hits = total = 0
        for i in range(start, len(seq) - 2):
            hits += int(mtp[0, i].argmax() == logits[0, i + 1].argmax())
            total += 1
        return hits, total

    def tool_calls(self, count, seed, thinking):
        rng = random.Random(seed)
        ent = data.Entities(True)
        ok = right_tool = exact = 0
        spec_hits = spec_total = 0
        samples = []
        for k in range(count):
            name = data.TOOL_NAMES[k % len(data.TOOL_NAMES)]
            messages, tools, first = data.tool_conversation(rng, ent, thinking is not False, name=name)
            expected = messages[first]["tool_calls"][0]["function"]["arguments"]
            prompt = self.chat_prompt_ids(messages[:first], tools, thinking)
            out = self.greedy(prompt, 160)
            text = self.decode(out)
            _, rest = split_reasoning(text, prefilled=thinking is False)
            known = {t["function"]["name"] for t in tools}
            calls = parse_tool_calls(rest, known)
            ok += bool(calls)
            right_tool += bool(calls) and calls[0][0] == name
            exact += bool(calls) and calls[0][0] == name and calls[0][1] == {k2: str(v) for k2, v in expected.items()}
            h, t = self.spec_agreement(prompt, out)
            spec_hits, spec_total = spec_hits + h, spec_total + t
            if k < 4:
                samples.append({"user": messages[first - 1]["content"], "output": text})
        return {"prompts": count, "thinking": thinking, "tool_call_rate": round(ok / count, 4),
                "expected_tool_rate": round(right_tool / count, 4), "exact_arguments_rate": round(exact / count, 4),
                "mtp_agreement_on_greedy_output": round(spec_hits / max(1, spec_total), 4),
                "samples": samples}, (spec_hits, spec_total)

    def think_blocks(self, count, seed):
        rng = random.Random(seed)
        ent = data.Entities(True)
        on = off = 0
        samples = []
        spec_hits = spec_total = 0
        for k in range(count):
            messages, tools, first = data.plain_conversation(rng, ent, True)
            history = messages[:first]
            prompt_on = self.chat_prompt_ids(history, tools, None)
            out_on = self.greedy(prompt_on, 96)
            text_on = self.decode(out_on)
            reasoning, _ = split_reasoning(text_on, prefilled=False)
            on += bool(reasoning) and "</think>" in text_on
            prompt_off = self.chat_prompt_ids(history, tools, False)
            out_off = self.greedy(prompt_off, 96)
            text_off = self.decode(out_off)
            off += "<think>" not in text_off and "</think>" not in text_off
            for p, o in ((prompt_on, out_on), (prompt_off, out_off)):
                h, t = self.spec_agreement(p, o)
                spec_hits, spec_total = spec_hits + h, spec_total + t
            if k < 4:
                samples.append({"user": history[-1]["content"], "thinking_on": text_on, "thinking_off": text_off})
        return {"prompts": count, "think_block_rate_thinking_on": round(on / count, 4),
                "no_think_block_rate_thinking_off": round(off / count, 4), "samples": samples}, (spec_hits, spec_total)


def run(folder, hf_tok, template, args):
    torch.manual_seed(0)
    ev = Evaluator(folder, hf_tok, template)
    results = {"held_out": ev.held_out_loss(args.seq_len, seed=args.seed + 100)}
    print(json.dumps(results["held_out"]), flush=True)
    reference = ev.reference_greedy()
    (Path(folder) / "reference_greedy.json").write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n")
    print("reference:", json.dumps(reference, ensure_ascii=False), flush=True)
    results["python_sample"] = ev.python_sample()
    print("python sample:\n" + PYTHON_PROMPT + results["python_sample"]["completion"], flush=True)
    tools_on, s1 = ev.tool_calls(40, seed=args.seed + 200, thinking=None)
    tools_off, s2 = ev.tool_calls(20, seed=args.seed + 300, thinking=False)
    think, s3 = ev.think_blocks(30, seed=args.seed + 400)
    results["tool_calls_thinking_default"] = tools_on
    results["tool_calls_thinking_off"] = tools_off
    results["think_blocks"] = think
    hits, total = s1[0] + s2[0] + s3[0], s1[1] + s2[1] + s3[1]
    results["mtp_agreement_on_greedy_generations"] = {"rate": round(hits / max(1, total), 4), "positions": total}
    for key in ("tool_calls_thinking_default", "tool_calls_thinking_off", "think_blocks",
                "mtp_agreement_on_greedy_generations"):
        print(key, json.dumps(results[key], ensure_ascii=False), flush=True)
    (Path(folder) / "eval.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return results
