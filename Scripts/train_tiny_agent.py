#!/usr/bin/env python3
"""GLM-Tiny v2, stage 2: teaches the stage-1 model (Scripts/train_tiny_model.py) what coding agents send.

Reproduce from the repository root (CPython 3.11.7, whose standard library is the code corpus; the venv from
Scripts/requirements-train.txt):

    ~/glm-train-venv/bin/python Scripts/train_tiny_model.py --out stage1          # stage 1, ~40 min
    ~/glm-train-venv/bin/python Scripts/train_tiny_agent.py --init stage1 --out Models/GLM-Tiny

Stage 2 keeps the stage-1 tokenizer and continues training every weight (main model and MTP layer) on sequences of
512 to 8192 tokens: agent-shaped conversations from Scripts/tinymodel/agent.py (long system prompts, tools, file
contents, multi-turn histories; native tool calls, Aider whole-file edits, Cline-style XML tools) packed with
standard-library code, and at 512 tokens the stage-1 mix of short chats and code, so short-prompt behaviour stays.
Everything is seeded; the data of step s depends only on (seed, s). Then it writes the release files, runs the
stage-1 evaluation (Scripts/tinymodel/evaluate.py) and the agent evaluation through `glmserve serve`
(Scripts/tinymodel/agent_eval.py) into eval.json, and writes the model card.
"""

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinymodel import agent, corpus, data  # noqa: E402
from tinymodel import model as tm  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "Tests" / "Fixtures" / "tokenizer" / "chat_template.jinja"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]
# Sequence length of each step, cycled; every step holds tokens_per_step tokens.
BUCKETS = [8192, 4096, 2048, 1024, 4096, 2048, 1024, 512]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init", required=False, default="", help="stage-1 model folder")
    p.add_argument("--out", default=str(REPO / "Models" / "GLM-Tiny"))
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--tokens-per-step", type=int, default=16384)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--mtp-weight", type=float, default=0.3)
    p.add_argument("--bias-update", type=float, default=1e-3)
    p.add_argument("--prompt-weight", type=float, default=0.2, help="loss weight of sampled non-assistant tokens")
    p.add_argument("--prompt-sample", type=float, default=0.25, help="share of non-assistant tokens in the loss")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--measure", type=int, default=0, help="only time this many steps and exit")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--glmserve", default="", help="glmserve binary for the agent evaluation (default: build)")
    p.add_argument("--seq-len", type=int, default=512, help="window of the stage-1 evaluation")
    return p.parse_args()


class StepData:
    """Deterministic batches: step s draws from random.Random((seed, s))."""

    def __init__(self, args, hf_tok):
        self.args = args
        self.tok = hf_tok
        self.renderer = data.ChatRenderer(hf_tok, TEMPLATE.read_text(encoding="utf-8"))
        self.pools = agent.Pools(held_out=False)
        self.eot = hf_tok.convert_tokens_to_ids("<|endoftext|>")
        train_files, _ = data.split_code_files(data.stdlib_files())
        stream = []
        for path in train_files:
            stream += hf_tok.encode(data.read_text(path), add_special_tokens=False) + [self.eot]
        self.code = np.array(stream, dtype=np.int64)
        # The stage-1 short chats (fresh conversations, same generator) for the 512-token steps.
        ids, mask, real = corpus.chat_sequences(hf_tok, self.renderer, 6000, 512, seed=args.seed + 7, held_out=False,
                                                pad_id=self.eot)
        self.short = (ids, mask, real)

    def code_slice(self, rng, n):
        start = rng.randrange(0, len(self.code) - n)
        return self.code[start:start + n]

    def agent_sequence(self, rng, length):
        """One agent conversation that fits `length`, followed by code to fill the window.
        Returns (ids, trained mask, real mask)."""
        # Half the windows hold one conversation of 60-97 % of the window (the answer comes after a long prompt);
        # the others pack conversations of 10-40 % one after the other (more answers, at every position).
        single = rng.random() < 0.5
        ids, mask = [], []
        while True:
            room = length - len(ids)
            target = int(length * (rng.uniform(0.6, 0.97) if single else rng.uniform(0.1, 0.4)))
            if target > room or target < 300:
                break
            for _ in range(6):
                messages, tools, first, thinking, _, _ = agent.agent_conversation(rng, self.pools, target)
                c_ids, c_mask = corpus.encode_pieces(self.tok, self.renderer.pieces(messages, tools, first, thinking))
                if len(c_ids) <= room:
                    break
                target = int(target * 0.85)
            if len(c_ids) > room:
                break
            ids, mask = ids + c_ids, mask + c_mask
            if single:
                break
        rest = length - len(ids)
        if rest > 0:
            ids = ids + [self.eot] + list(self.code_slice(rng, rest - 1)) if rest > 1 else ids + [self.eot]
            mask = mask + [False] * rest
        return np.array(ids, dtype=np.int64), np.array(mask, dtype=bool)

    def batch(self, step):
        rng = random.Random(self.args.seed * 1_000_003 + step)
        length = BUCKETS[step % len(BUCKETS)]
        count = max(1, self.args.tokens_per_step // length)
        if length == 512:
            ids_all, mask_all, real_all = self.short
            n_code = count // 4
            chats = [rng.randrange(len(ids_all)) for _ in range(count - n_code)]
            ids = [ids_all[i] for i in chats] + [self.code_slice(rng, length) for _ in range(n_code)]
            trained = [mask_all[i] for i in chats] + [np.ones(length, dtype=bool) for _ in range(n_code)]
            real = [real_all[i] for i in chats] + [np.ones(length, dtype=bool) for _ in range(n_code)]
        else:
            ids, trained = zip(*(self.agent_sequence(rng, length) for _ in range(count)))
            real = [np.ones(length, dtype=bool)] * count
        ids, trained, real = np.stack(ids), np.stack(trained), np.stack(real)
        # Loss weights: 1 on assistant tokens; prompt_weight on a sampled share of the other real tokens.
        np_rng = np.random.default_rng(self.args.seed * 7919 + step)
        sampled = np_rng.random(ids.shape) < self.args.prompt_sample
        weight = trained.astype(np.float32) + self.args.prompt_weight * (real & ~trained & sampled).astype(np.float32)
        if length == 512:
            weight[count - count // 4:] = 1.0   # code windows: every token, as in stage 1
        return torch.from_numpy(ids), torch.from_numpy(weight), length


def lr_at(args, step):
    return tm.warmup_cosine(step, args.steps, args.warmup, args.lr)


def load_stage1(folder):
    from transformers import Glm4MoeForCausalLM
    config_dict = json.loads((folder / "config.json").read_text())
    config = tm.hf_config(config_dict)
    model = tm.TinyGlm(config)
    model.lm = Glm4MoeForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.lm.config._attn_implementation = "sdpa"
    model.mtp = tm.load_release_mtp(folder, config)
    return model, config_dict


def weighted_head_loss(head, hidden, targets, weight):
    """Cross-entropy of head(hidden) only where weight > 0 (the output head is the largest matrix: skipping the
    positions that carry no loss saves most of its cost on long prompts)."""
    sel = weight > 0
    logits = head(hidden[sel])
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[sel], reduction="none")
    w = weight[sel]
    return (loss * w).sum() / w.sum().clamp(min=1.0)


def train(args, hf_tok, out, init):
    model, config_dict = load_stage1(init)
    model.train()
    stream = StepData(args, hf_tok)
    print(f"data: {len(stream.code)} code tokens, {len(stream.short[0])} short chat sequences", flush=True)
    opt = tm.adamw(model, args.lr)
    balancer = tm.LossFreeBalancer(model, args.bias_update)
    base, head = model.lm.model, model.lm.lm_head
    steps = args.measure or args.steps
    log, start = [], time.time()
    for step in range(steps):
        ids, weight, length = stream.batch(step)
        for group in opt.param_groups:
            group["lr"] = lr_at(args, step)
        hn = base(input_ids=ids, use_cache=False).last_hidden_state
        main_loss = weighted_head_loss(head, hn[:, :-1], ids[:, 1:], weight[:, 1:])
        embeds = base.embed_tokens(ids[:, 1:])
        positions = torch.arange(ids.shape[1] - 1).unsqueeze(0)
        g = model.mtp(hn[:, :-1], embeds, base.rotary_emb(hn, positions))
        mtp_loss = weighted_head_loss(head, g[:, :-1], ids[:, 2:], weight[:, 2:])
        loss = main_loss + args.mtp_weight * mtp_loss
        grad_norm = tm.optimizer_step(model, opt, balancer, loss)
        elapsed = time.time() - start
        entry = {"step": step + 1, "seq_len": length, "loss": round(main_loss.item(), 4),
                 "mtp_loss": round(mtp_loss.item(), 4), "lr": round(lr_at(args, step), 6),
                 "grad_norm": round(float(grad_norm), 3), "elapsed_s": round(elapsed, 1)}
        log.append(entry)
        if step % 8 == 0 or step == steps - 1:
            eta = elapsed / (step + 1) * (steps - step - 1)
            print(json.dumps(entry) + f"  (eta {eta / 60:.1f} min)", flush=True)
    balancer.remove()
    if args.measure:
        print(f"measured {elapsed / steps:.2f} s/step", flush=True)
        return None
    model.eval()
    generation_config = json.loads((init / "generation_config.json").read_text())
    tm.save_release(model, out, config_dict, generation_config)
    for name in TOKENIZER_FILES:
        if (init / name).resolve() != (out / name).resolve():
            shutil.copyfile(init / name, out / name)
    stage1 = json.loads((init / "training_log.json").read_text())["summary"]
    by_len = {}
    for e in log[-len(BUCKETS) * 4:]:
        by_len.setdefault(e["seq_len"], []).append(e["loss"])
    summary = {"stage1": stage1,
               "stage2": {"steps": steps, "train_seconds": round(time.time() - start, 1),
                          "tokens": steps * args.tokens_per_step,
                          "final_loss_by_seq_len": {str(k): round(float(np.mean(v)), 4)
                                                    for k, v in sorted(by_len.items())},
                          "args": {k: v for k, v in vars(args).items() if k not in ("out", "init", "glmserve")},
                          "router_bias_abs_max": balancer.largest_bias()}}
    (out / "training_log.json").write_text(json.dumps({"summary": summary, "log": log}, indent=1) + "\n")
    return summary


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from transformers import PreTrainedTokenizerFast
    if not args.eval_only:
        init = Path(args.init)
        if not (init / "config.json").exists():
            sys.exit(f"--init {init}: no config.json; run Scripts/train_tiny_model.py first (stage 1)")
        hf_tok = PreTrainedTokenizerFast.from_pretrained(str(init))
        if train(args, hf_tok, out, init) is None:
            return
    hf_tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    from tinymodel import agent_eval, card, evaluate
    evaluate.run(out, hf_tok, TEMPLATE.read_text(encoding="utf-8"), args)
    agent_eval.run(out, args)
    card.write_card(out, None)


if __name__ == "__main__":
    main()
