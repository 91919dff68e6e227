#!/usr/bin/env python3
"""Write a random GLM-4.x model in compressed-tensors `pack-quantized` W4A16 layout (symmetric int4, group 128) for
decode benchmarks, straight from the format's specification (numpy only, streamed tensor by tensor).

Why not llm-compressor: quantising a GLM-4.5-Air-shaped model with it first needs the whole BF16 model in memory
(≈ 10 GB for 3 layers of 128 experts), more than the benchmark machine allows per process; the layout written here
is the one llm-compressor writes (checked by the q-ct-w4-g128-sym fixture, which it did write): `weight_packed`
I32 [out, in/8] holding q + 8 (q in [-8, 7]) at bits 4·j, `weight_scale` BF16 [out, in/128], `weight_shape` I64 [2];
embeddings, lm_head, norms and the router stay BF16 (ignored as llm-compressor ignores lm_head and mlp.gate), and so
does any projection whose input width is not a multiple of 128 (GLM-4.5-Air's dense down_proj, 10944 wide), which
compressed-tensors refuses to group.

GLM-4.5-Air shape, 3 layers (≈ 2.5 GB):
    python3 Scripts/make_quantized_bench_model.py --output bench-models/air-w4a16 --hidden-size 4096 --layers 3 \
        --experts 128 --active-experts 8 --moe-intermediate 1408 --intermediate 10944 --heads 96 --kv-heads 8 \
        --head-dim 128 --first-k-dense-replace 1 --vocab 2048
"""

import argparse
import json
import os
import struct

import numpy as np

GROUP = 128


def bf16_bytes(values):
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True)
    for name, default in [("hidden-size", 4096), ("layers", 3), ("experts", 128), ("active-experts", 8),
                          ("moe-intermediate", 1408), ("intermediate", 10944), ("heads", 96), ("kv-heads", 8),
                          ("head-dim", 128), ("first-k-dense-replace", 1), ("vocab", 2048), ("seed", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    H, D = a.hidden_size, a.head_dim
    rng = np.random.default_rng(a.seed)
    config = {
        "architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe", "attention_bias": True,
        "head_dim": D, "hidden_act": "silu", "hidden_size": H, "partial_rotary_factor": 0.5,
        "intermediate_size": a.intermediate, "max_position_embeddings": 131072, "moe_intermediate_size": a.moe_intermediate,
        "norm_topk_prob": True, "num_attention_heads": a.heads, "n_group": 1, "topk_group": 1,
        "n_routed_experts": a.experts, "n_shared_experts": 1, "routed_scaling_factor": 1.0,
        "num_experts_per_tok": a.active_experts, "first_k_dense_replace": a.first_k_dense_replace,
        "num_hidden_layers": a.layers, "num_key_value_heads": a.kv_heads, "rms_norm_eps": 1e-5,
        "rope_theta": 1000000.0, "num_nextn_predict_layers": 0, "tie_word_embeddings": False,
        "use_qk_norm": False, "vocab_size": a.vocab, "eos_token_id": [0], "torch_dtype": "bfloat16",
        "quantization_config": {
            "quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
            "ignore": ["lm_head", "re:.*mlp\\.gate$"],
            "config_groups": {"group_0": {"targets": ["Linear"], "format": "pack-quantized",
                                          "input_activations": None, "output_activations": None,
                                          "weights": {"num_bits": 4, "type": "int", "symmetric": True,
                                                      "strategy": "group", "group_size": GROUP, "dynamic": False}}},
        },
    }
    tensors = []   # (name, dtype, shape, generator)

    def plain(name, shape, std=None, value=None):
        def make():
            if value is not None:
                return bf16_bytes(np.full(shape, value, dtype=np.float32))
            return bf16_bytes(rng.standard_normal(shape, dtype=np.float32) * std)
        tensors.append((name, "BF16", list(shape), make))

    def quantized(prefix, rows, cols):
        if cols % GROUP:   # compressed-tensors refuses groups that do not divide the row: keep it BF16, ignored
            config["quantization_config"]["ignore"].append(prefix)
            plain(prefix + ".weight", (rows, cols), std=1 / np.sqrt(cols))
            return

        def packed():
            codes = rng.integers(0, 16, size=(rows, cols), dtype=np.uint32)
            words = np.zeros((rows, cols // 8), dtype=np.uint32)
            for j in range(8):
                words |= codes[:, j::8] << (4 * j)
            return words.view(np.int32).tobytes()
        scale = 1.0 / (4.6 * np.sqrt(cols))
        tensors.append((prefix + ".weight_packed", "I32", [rows, cols // 8], packed))
        tensors.append((prefix + ".weight_scale", "BF16", [rows, cols // GROUP],
                        lambda: bf16_bytes(np.full((rows, cols // GROUP), scale, dtype=np.float32))))
        tensors.append((prefix + ".weight_shape", "I64", [2], lambda: np.array([rows, cols], dtype=np.int64).tobytes()))

    plain("model.embed_tokens.weight", (a.vocab, H), std=1.0)
    for l in range(a.layers):
        pre = f"model.layers.{l}."
        plain(pre + "input_layernorm.weight", (H,), value=1.0)
        plain(pre + "post_attention_layernorm.weight", (H,), value=1.0)
        q, kv = a.heads * D, a.kv_heads * D
        for name, rows in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)]:
            quantized(pre + "self_attn." + name, rows, H)
            plain(pre + f"self_attn.{name}.bias", (rows,), std=0.02)
        quantized(pre + "self_attn.o_proj", H, q)
        if l < a.first_k_dense_replace:
            for name, rows, cols in [("gate_proj", a.intermediate, H), ("up_proj", a.intermediate, H), ("down_proj", H, a.intermediate)]:
                quantized(pre + "mlp." + name, rows, cols)
        else:
            plain(pre + "mlp.gate.weight", (a.experts, H), std=1 / np.sqrt(H))
            tensors.append((pre + "mlp.gate.e_score_correction_bias", "F32", [a.experts],
                            lambda: np.full(a.experts, 0.1, dtype=np.float32).tobytes()))
            for e in [f"experts.{i}" for i in range(a.experts)] + ["shared_experts"]:
                I = a.moe_intermediate
                for name, rows, cols in [("gate_proj", I, H), ("up_proj", I, H), ("down_proj", H, I)]:
                    quantized(pre + f"mlp.{e}.{name}", rows, cols)
    plain("model.norm.weight", (H,), value=1.0)
    plain("lm_head.weight", (a.vocab, H), std=4 / np.sqrt(H))

    sizes = {"BF16": 2, "F32": 4, "I32": 4, "I64": 8}
    header, offset = {}, 0
    for name, dtype, shape, _ in tensors:
        n = int(np.prod(shape)) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(a.output, exist_ok=True)
    with open(os.path.join(a.output, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, dtype, shape, make in tensors:
            data = make()
            assert len(data) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0], name
            f.write(data)
    with open(os.path.join(a.output, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"{a.output}: {len(tensors)} tensors, {offset / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
