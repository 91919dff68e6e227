#!/usr/bin/env python3
"""Writes an FP8 copy of a BF16/F32 GLM-4.x folder in the layout of the official FP8 releases (model-spec §7):
compressed-tensors `float-quantized`, every linear weight of the decoder layers as F8_E4M3 with one F32 scale per
output channel (`X.weight_scale`, shape [out, 1], absmax / 448), everything else (embeddings, lm_head, norms,
biases, the router `mlp.gate`, the correction bias) copied unchanged. Used for benchmarks (e.g. the FP8 copy of
the GLM-4.5-Air-shaped model) — the weights need torch for the float8 cast.

    python3 -m venv .venv-ref && .venv-ref/bin/pip install -r Scripts/requirements-train.txt
    .venv-ref/bin/python Scripts/make_fp8_copy.py --model bench-models/air-bf16 --output bench-models/air-fp8
"""
import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

QUANTISED = re.compile(r"model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(experts\.\d+\.|shared_experts\.)?"
                       r"(gate|up|down)_proj|eh_proj)\.weight$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    src, out = Path(args.model), Path(args.output)
    out.mkdir(parents=True, exist_ok=False)
    for f in src.iterdir():
        if f.suffix != ".safetensors" and f.name != "model.safetensors.index.json" and f.is_file():
            shutil.copy(f, out / f.name)
    config = json.loads((src / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "compressed-tensors", "format": "float-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"],
                                      "weights": {"num_bits": 8, "type": "float", "strategy": "channel",
                                                  "symmetric": True, "dynamic": False},
                                      "input_activations": {"num_bits": 8, "type": "float", "strategy": "token",
                                                            "symmetric": True, "dynamic": True}}},
        "ignore": ["lm_head", "re:.*mlp.gate$"],
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    index = {"metadata": {}, "weight_map": {}}
    shards = sorted(src.glob("*.safetensors"))
    total = 0
    for n, shard in enumerate(shards, 1):
        tensors = {}
        with safe_open(str(shard), "pt") as f:
            for name in f.keys():
                t = f.get_tensor(name)
                if QUANTISED.match(name):
                    w = t.to(torch.float32)
                    scale = (w.abs().amax(dim=1, keepdim=True) / 448.0).clamp(min=1e-12)
                    tensors[name] = (w / scale).to(torch.float8_e4m3fn)
                    tensors[name + "_scale"] = scale
                else:
                    tensors[name] = t
        save_file(tensors, str(out / shard.name), metadata={"format": "pt"})
        for name, t in tensors.items():
            index["weight_map"][name] = shard.name
            total += t.numel() * t.element_size()
        print(f"[{n}/{len(shards)}] {shard.name}", file=sys.stderr)
    index["metadata"]["total_size"] = total
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
