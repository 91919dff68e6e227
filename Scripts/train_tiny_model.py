#!/usr/bin/env python3
"""Trains GLM-Tiny, the small GLM-4.6-architecture model bundled in Models/GLM-Tiny.

Reproduce (from the repository root, CPython 3.11.7 whose standard library is the code corpus):

    python3 -m venv ~/glm-train-venv && ~/glm-train-venv/bin/pip install -r Scripts/requirements-train.txt
    nice -n 5 ~/glm-train-venv/bin/python Scripts/train_tiny_model.py --out Models/GLM-Tiny

Stages: tokenizer -> data -> training (fixed seed, fixed data order, one torch thread) -> release files ->
evaluation (Scripts/tinymodel/evaluate.py) -> model card. `--eval-only` re-runs the evaluation on a saved folder.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinymodel import corpus, data, tok  # noqa: E402
from tinymodel import model as tm  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "Tests" / "Fixtures" / "tokenizer" / "chat_template.jinja"
COMMAND = ("python3 -m venv ~/glm-train-venv && ~/glm-train-venv/bin/pip install -r Scripts/requirements-train.txt\n"
           "nice -n 5 ~/glm-train-venv/bin/python Scripts/train_tiny_model.py --out Models/GLM-Tiny")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "Models" / "GLM-Tiny"))
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--mtp-weight", type=float, default=0.3)
    p.add_argument("--bias-update", type=float, default=1e-3, help="loss-free balancing step (0 = off)")
    p.add_argument("--code-fraction", type=float, default=0.25)
    p.add_argument("--prompt-weight", type=float, default=0.2, help="loss weight of non-assistant chat tokens")
    p.add_argument("--chat-conversations", type=int, default=10000)
    p.add_argument("--measure", type=int, default=0, help="only time this many steps and exit")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--checkpoint", default="", help="also torch.save the trained float32 weights here")
    return p.parse_args()


def build_tokenizer(args, out):
    files, _ = data.split_code_files(data.stdlib_files())
    texts = [data.read_text(p) for p in files]
    # Chats for the tokenizer are rendered with the fixture tokenizer (only the text matters here).
    from transformers import PreTrainedTokenizerFast
    fixture = PreTrainedTokenizerFast.from_pretrained(str(TEMPLATE.parent))
    renderer = data.ChatRenderer(fixture, TEMPLATE.read_text(encoding="utf-8"))
    rng, ent = random.Random(args.seed + 1), data.Entities(False)
    chats = []
    for _ in range(2000):
        messages, tools, first, thinking = data.synth_conversation(rng, ent)
        chats.append("".join(t for t, _ in renderer.pieces(messages, tools, first, thinking)))
    tokenizer = tok.train_tokenizer(texts + chats, args.vocab)
    tok.write_tokenizer_files(tokenizer, out, TEMPLATE)
    return PreTrainedTokenizerFast.from_pretrained(str(out))


def build_data(args, hf_tok):
    eot = hf_tok.convert_tokens_to_ids("<|endoftext|>")
    train_files, _ = data.split_code_files(data.stdlib_files())
    code, n_code_tokens = corpus.code_windows(hf_tok, train_files, args.seq_len, eot)
    renderer = data.ChatRenderer(hf_tok, TEMPLATE.read_text(encoding="utf-8"))
    chat_ids, chat_mask, chat_real = corpus.chat_sequences(hf_tok, renderer, args.chat_conversations, args.seq_len,
                                                seed=args.seed + 2, held_out=False, pad_id=eot)
    # Loss weights: 1 on assistant tokens, prompt_weight on the rest of the conversation, 0 on padding.
    chat_weight = chat_mask.astype(np.float32) + args.prompt_weight * (chat_real & ~chat_mask).astype(np.float32)
    return code, chat_ids, chat_mask, chat_weight, n_code_tokens


def batch_order(args, n_code, n_chat):
    """Deterministic list of (kind, index) per step: code windows and chat sequences, each reshuffled per epoch."""
    rng = np.random.default_rng(args.seed + 3)
    per_code = int(round(args.batch * args.code_fraction))
    per_chat = args.batch - per_code

    def stream(n):
        while True:
            for i in rng.permutation(n):
                yield int(i)

    code_stream, chat_stream = stream(n_code), stream(n_chat)
    return [([next(code_stream) for _ in range(per_code)], [next(chat_stream) for _ in range(per_chat)])
            for _ in range(args.steps)]


def lr_at(args, step):
    return tm.warmup_cosine(step, args.steps, args.warmup, args.lr)


def train(args, hf_tok, out):
    code, chat_ids, chat_mask, chat_weight, n_code_tokens = build_data(args, hf_tok)
    print(f"data: {code.shape[0]} code windows ({n_code_tokens} tokens), {chat_ids.shape[0]} chat sequences "
          f"({int(chat_mask.sum())} trained chat tokens)", flush=True)
    eot = hf_tok.convert_tokens_to_ids("<|endoftext|>")
    eos = [hf_tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]
    config_dict = tm.release_config_dict(len(hf_tok), eos, eot)
    config = tm.hf_config(config_dict)

    torch.manual_seed(args.seed)
    model = tm.TinyGlm(config)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params} (main {sum(p.numel() for p in model.lm.parameters())})", flush=True)

    opt = tm.adamw(model, args.lr)
    balancer = tm.LossFreeBalancer(model, args.bias_update)

    order = batch_order(args, code.shape[0], chat_ids.shape[0])
    steps = args.measure or args.steps
    log = []
    start = time.time()
    for step in range(steps):
        code_idx, chat_idx = order[step]
        ids = torch.from_numpy(np.concatenate([code[code_idx], chat_ids[chat_idx]]))
        mask = torch.from_numpy(np.concatenate([np.ones((len(code_idx), args.seq_len), dtype=np.float32),
                                                chat_weight[chat_idx]]))
        for group in opt.param_groups:
            group["lr"] = lr_at(args, step)
        logits, mtp_logits = model(ids)
        main_loss = tm.masked_ce(logits[:, :-1], ids[:, 1:], mask[:, 1:])
        mtp_loss = tm.masked_ce(mtp_logits[:, :-1], ids[:, 2:], mask[:, 2:])
        loss = main_loss + args.mtp_weight * mtp_loss
        grad_norm = tm.optimizer_step(model, opt, balancer, loss)
        elapsed = time.time() - start
        entry = {"step": step + 1, "loss": round(main_loss.item(), 4), "mtp_loss": round(mtp_loss.item(), 4),
                 "lr": round(lr_at(args, step), 6), "grad_norm": round(float(grad_norm), 3),
                 "elapsed_s": round(elapsed, 1)}
        log.append(entry)
        if step % 10 == 0 or step == steps - 1:
            print(json.dumps(entry), flush=True)
    balancer.remove()
    if args.measure:
        print(f"measured {elapsed / steps:.2f} s/step", flush=True)
        return None
    model.eval()
    if args.checkpoint:
        torch.save(model.state_dict(), args.checkpoint)
    generation_config = {"_from_model_config": True, "eos_token_id": eos, "pad_token_id": eot,
                         "temperature": 1.0, "top_p": 0.95, "transformers_version": "5.23.0"}
    tm.save_release(model, out, config_dict, generation_config)
    summary = {"steps": steps, "train_seconds": round(time.time() - start, 1), "parameters": n_params,
               "final_train_loss_avg_last20": round(float(np.mean([e["loss"] for e in log[-20:]])), 4),
               "final_train_mtp_loss_avg_last20": round(float(np.mean([e["mtp_loss"] for e in log[-20:]])), 4),
               "code_windows": int(code.shape[0]), "code_tokens": int(n_code_tokens),
               "chat_sequences": int(chat_ids.shape[0]),
               "args": {k: v for k, v in vars(args).items() if k not in ("out", "checkpoint")},
               "router_bias_abs_max": balancer.largest_bias()}
    (out / "training_log.json").write_text(json.dumps({"summary": summary, "log": log}, indent=1) + "\n")
    return summary


def main():
    args = parse_args()
    torch.set_num_threads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    out = Path(args.out)
    from transformers import PreTrainedTokenizerFast
    if args.eval_only:
        hf_tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    else:
        t0 = time.time()
        hf_tok = build_tokenizer(args, out)
        print(f"tokenizer: {len(hf_tok)} tokens in {time.time() - t0:.1f} s", flush=True)
        if train(args, hf_tok, out) is None:
            return
    from tinymodel import card, evaluate
    evaluate.run(out, hf_tok, TEMPLATE.read_text(encoding="utf-8"), args)
    card.write_card(out, COMMAND)


if __name__ == "__main__":
    main()
