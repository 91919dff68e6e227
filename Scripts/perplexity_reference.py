#!/usr/bin/env python3
"""Reference perplexity of a model folder on a text file, computed with Hugging Face transformers exactly as
`glmserve perplexity` defines it: the file's token ids (the folder's tokenizer.json, no special tokens added) are cut
into consecutive windows that start at multiples of --ctx and hold ctx + 1 tokens; each window is scored from an
empty cache in float32; every token after a window's first is counted; perplexity = exp(mean negative log-likelihood),
the log-softmax taken in float64.

    python3 -m venv .venv-ref && .venv-ref/bin/pip install -r Scripts/requirements-train.txt
    .venv-ref/bin/python Scripts/perplexity_reference.py --model Models/GLM-Tiny \\
        --file Tests/Fixtures/heldout/stdlib-heldout.txt --ctx 512 \\
        --output Tests/Fixtures/heldout/perplexity-reference.json

Pinned versions: Scripts/requirements-train.txt (torch 2.13.0+cpu, transformers 5.23.0, tokenizers 0.23.3).
"""
import argparse
import json
import math
from pathlib import Path

import tokenizers
import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()

    torch.manual_seed(0)
    tok = tokenizers.Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    text = Path(args.file).read_text(encoding="utf-8")
    ids = tok.encode(text, add_special_tokens=False).ids
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    nll, counted, windows = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, args.ctx):
            piece = ids[start:start + args.ctx + 1]
            logits = model(torch.tensor([piece])).logits[0].to(torch.float64)
            logp = torch.log_softmax(logits, dim=-1)
            target = torch.tensor(piece[1:])
            nll -= logp[:-1].gather(1, target[:, None]).sum().item()
            counted += len(piece) - 1
            windows += 1
    result = {
        "model": Path(args.model).name,
        "file": Path(args.file).name,
        "ctx": args.ctx,
        "tokens": counted,
        "windows": windows,
        "negative_log_likelihood": nll,
        "perplexity": math.exp(nll / counted),
        "made_with": {"torch": torch.__version__, "transformers": transformers.__version__,
                      "tokenizers": tokenizers.__version__},
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
