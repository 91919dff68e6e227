#!/usr/bin/env python3
"""Write a random-weight GLM-4.x (`Glm4MoeForCausalLM`, model_type `glm4_moe`) checkpoint in the release layout.

The folder gets `config.json` (every field of model-spec §1), `generation_config.json`, numbered shards
`model-0000N-of-0000M.safetensors`, `model.safetensors.index.json` and, in the GLM-4.6 layout, the MTP layer in
`mtp.safetensors` (listed only in the index); in the GLM-4.5 layout the MTP layer, with its own copies of the
embedding and head, goes into the last numbered shard. Weights are BF16 (or F32 with --dtype f32) except
`mlp.gate.e_score_correction_bias`, which is F32 as in the releases.

Initialisation keeps activations finite through the stack: projections N(0, 1/fan_in), embedding N(0, 1),
lm_head N(0, 1/fan_in), RMSNorm weights 1 + N(0, 0.1²), q/k/v biases N(0, 0.02²), correction bias
0.1 + N(0, 0.1²). Every tensor has its own generator seeded from --seed and the CRC of its name, so the values do
not depend on the shard size.

The script streams: it plans every shard's header first, then generates each tensor in chunks straight into the
file, so memory stays at a few tens of MB whatever the model size. numpy is the only dependency.

Example (the default, about 5.5 GB):  python3 Scripts/make_random_glm.py --output Models/random-glm
Small smoke test:  python3 Scripts/make_random_glm.py --output Models/tiny-random --hidden-size 64 --layers 3 --experts 8 \
    --active-experts 2 --moe-intermediate 32 --intermediate 128 --heads 4 --kv-heads 2 --head-dim 16 --vocab 512
"""

import argparse
import json
import os
import struct
import sys
import time
import zlib

import numpy as np

CHUNK_ELEMENTS = 4 << 20          # values generated per step (16 MB of float32)
DTYPE_SIZES = {"BF16": 2, "F32": 4}


# ---------------------------------------------------------------------------------------------------------------
# Command line and config


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="model folder to create (must not contain a model yet)")
    parser.add_argument("--hidden-size", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=12, help="num_hidden_layers (the MTP layer comes on top)")
    parser.add_argument("--experts", type=int, default=64, help="n_routed_experts")
    parser.add_argument("--active-experts", type=int, default=8, help="num_experts_per_tok")
    parser.add_argument("--shared-experts", type=int, default=1, help="n_shared_experts")
    parser.add_argument("--moe-intermediate", type=int, default=512, help="moe_intermediate_size")
    parser.add_argument("--intermediate", type=int, default=5632, help="intermediate_size of the dense MLP layers")
    parser.add_argument("--heads", type=int, default=16, help="num_attention_heads")
    parser.add_argument("--kv-heads", type=int, default=4, help="num_key_value_heads")
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--partial-rotary-factor", type=float, default=0.5)
    parser.add_argument("--vocab", type=int, default=32768, help="vocab_size")
    parser.add_argument("--first-k-dense-replace", type=int, default=1)
    parser.add_argument("--n-group", type=int, default=1)
    parser.add_argument("--topk-group", type=int, default=1)
    parser.add_argument("--routed-scaling-factor", type=float, default=2.5)
    parser.add_argument("--no-qk-norm", action="store_true", help="GLM-4.5-Air style: no q_norm/k_norm")
    parser.add_argument("--no-norm-topk-prob", action="store_true")
    parser.add_argument("--rope-theta", type=float, default=1000000.0)
    parser.add_argument("--max-position-embeddings", type=int, default=202752)
    parser.add_argument("--layout", choices=["glm46", "glm45"], default="glm46",
                        help="glm46: MTP layer in mtp.safetensors; glm45: MTP layer (with embed/head copies) in the last shard")
    parser.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    parser.add_argument("--shard-size-mb", type=float, default=1024.0, help="largest numbered shard, in MB (1e6 bytes)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def validate(args):
    """Refuse configurations the model (or model-spec) does not allow, with a clear message."""
    problems = []
    positive = ["hidden_size", "layers", "experts", "active_experts", "moe_intermediate", "intermediate", "heads",
                "kv_heads", "head_dim", "vocab", "n_group", "topk_group"]
    for name in positive:
        if getattr(args, name) <= 0:
            problems.append(f"--{name.replace('_', '-')} must be positive")
    if args.shared_experts < 0:
        problems.append("--shared-experts must not be negative")
    if args.heads % max(args.kv_heads, 1):
        problems.append("--heads must be a multiple of --kv-heads")
    rotary = int(args.head_dim * args.partial_rotary_factor)
    if rotary <= 0 or rotary % 2:
        problems.append(f"rotary dims int(head_dim·partial_rotary_factor) = {rotary} must be even and positive")
    if args.active_experts > args.experts:
        problems.append("--active-experts must not exceed --experts")
    if args.experts % max(args.n_group, 1):
        problems.append("--n-group must divide --experts")
    if args.topk_group > args.n_group:
        problems.append("--topk-group must not exceed --n-group")
    elif args.n_group > 0 and args.experts % args.n_group == 0 and \
            args.topk_group * (args.experts // args.n_group) < args.active_experts:
        problems.append("the kept groups (topk_group · experts/n_group) hold fewer experts than --active-experts")
    if not 0 <= args.first_k_dense_replace <= args.layers:
        problems.append("--first-k-dense-replace must be within 0 … --layers")
    if args.vocab < 256:
        problems.append("--vocab must be at least 256 (the stop ids sit 214–223 below its end)")
    if args.shard_size_mb <= 0:
        problems.append("--shard-size-mb must be positive")
    if problems:
        sys.exit("make_random_glm.py: " + "; ".join(problems))


def make_config(args):
    """config.json with every field of model-spec §1, in the release's key order."""
    eos = [args.vocab - 223, args.vocab - 216, args.vocab - 214]   # the real ids' distances from the vocabulary end
    return {
        "architectures": ["Glm4MoeForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "pad_token_id": eos[0],
        "eos_token_id": eos,
        "head_dim": args.head_dim,
        "hidden_act": "silu",
        "hidden_size": args.hidden_size,
        "partial_rotary_factor": args.partial_rotary_factor,
        "initializer_range": 0.02,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": args.max_position_embeddings,
        "model_type": "glm4_moe",
        "moe_intermediate_size": args.moe_intermediate,
        "norm_topk_prob": not args.no_norm_topk_prob,
        "num_attention_heads": args.heads,
        "n_group": args.n_group,
        "topk_group": args.topk_group,
        "n_routed_experts": args.experts,
        "n_shared_experts": args.shared_experts,
        "routed_scaling_factor": args.routed_scaling_factor,
        "num_experts_per_tok": args.active_experts,
        "first_k_dense_replace": args.first_k_dense_replace,
        "num_hidden_layers": args.layers,
        "num_key_value_heads": args.kv_heads,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": args.rope_theta,
        "num_nextn_predict_layers": 1,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16" if args.dtype == "bf16" else "float32",
        "transformers_version": "4.56.2",
        "use_cache": True,
        "use_qk_norm": not args.no_qk_norm,
        "vocab_size": args.vocab,
    }


def make_generation_config(config):
    return {
        "_from_model_config": True,
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
        "temperature": 1.0,
        "top_p": 0.95,
        "transformers_version": config["transformers_version"],
    }


# ---------------------------------------------------------------------------------------------------------------
# The tensor plan: (name, dtype, shape, initialiser) in file order, without any data


class Spec:
    """One tensor to write: its init is ("normal", mean, std)."""

    def __init__(self, name, dtype, shape, mean, std):
        self.name, self.dtype, self.shape, self.mean, self.std = name, dtype, list(shape), mean, std

    @property
    def count(self):
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self):
        return self.count * DTYPE_SIZES[self.dtype]


def layer_specs(args, layer, weight_dtype, mtp):
    """Every tensor of decoder layer `layer` (model-spec §6.1); `mtp` adds the MTP extras."""
    h, q, kv = args.hidden_size, args.heads * args.head_dim, args.kv_heads * args.head_dim
    p = f"model.layers.{layer}."

    def matrix(name, rows, columns):
        return Spec(p + name, weight_dtype, [rows, columns], 0.0, 1.0 / np.sqrt(columns))

    def norm(name, size):
        return Spec(p + name, weight_dtype, [size], 1.0, 0.1)

    specs = []
    if mtp:
        specs += [norm("enorm.weight", h), norm("hnorm.weight", h), matrix("eh_proj.weight", h, 2 * h)]
        if args.layout == "glm45":
            specs.append(Spec(p + "embed_tokens.weight", weight_dtype, [args.vocab, h], 0.0, 1.0))
    specs += [
        norm("input_layernorm.weight", h),
        matrix("self_attn.q_proj.weight", q, h), Spec(p + "self_attn.q_proj.bias", weight_dtype, [q], 0.0, 0.02),
        matrix("self_attn.k_proj.weight", kv, h), Spec(p + "self_attn.k_proj.bias", weight_dtype, [kv], 0.0, 0.02),
        matrix("self_attn.v_proj.weight", kv, h), Spec(p + "self_attn.v_proj.bias", weight_dtype, [kv], 0.0, 0.02),
        matrix("self_attn.o_proj.weight", h, q),
    ]
    if not args.no_qk_norm:
        specs += [norm("self_attn.q_norm.weight", args.head_dim), norm("self_attn.k_norm.weight", args.head_dim)]
    specs.append(norm("post_attention_layernorm.weight", h))
    if layer < args.first_k_dense_replace:
        i = args.intermediate
        specs += [matrix("mlp.gate_proj.weight", i, h), matrix("mlp.up_proj.weight", i, h),
                  matrix("mlp.down_proj.weight", h, i)]
    else:
        m = args.moe_intermediate
        specs += [matrix("mlp.gate.weight", args.experts, h),
                  Spec(p + "mlp.gate.e_score_correction_bias", "F32", [args.experts], 0.1, 0.1)]
        for e in range(args.experts):
            specs += [matrix(f"mlp.experts.{e}.gate_proj.weight", m, h), matrix(f"mlp.experts.{e}.up_proj.weight", m, h),
                      matrix(f"mlp.experts.{e}.down_proj.weight", h, m)]
        if args.shared_experts > 0:
            s = m * args.shared_experts
            specs += [matrix("mlp.shared_experts.gate_proj.weight", s, h),
                      matrix("mlp.shared_experts.up_proj.weight", s, h),
                      matrix("mlp.shared_experts.down_proj.weight", h, s)]
    if mtp:
        specs.append(norm("shared_head.norm.weight", h))
        if args.layout == "glm45":
            specs.append(matrix("shared_head.head.weight", args.vocab, h))
    return specs


def plan_files(args):
    """[(file name, [Spec])] in writing order: the numbered shards, then mtp.safetensors (GLM-4.6 layout)."""
    dtype = "BF16" if args.dtype == "bf16" else "F32"
    h = args.hidden_size
    main = [Spec("model.embed_tokens.weight", dtype, [args.vocab, h], 0.0, 1.0)]
    for layer in range(args.layers):
        main += layer_specs(args, layer, dtype, mtp=False)
    main += [Spec("model.norm.weight", dtype, [h], 1.0, 0.1),
             Spec("lm_head.weight", dtype, [args.vocab, h], 0.0, 1.0 / np.sqrt(h))]
    mtp = layer_specs(args, args.layers, dtype, mtp=True)

    limit = int(args.shard_size_mb * 1e6)
    shards, current, size = [], [], 0
    for spec in main:
        if current and size + spec.nbytes > limit:
            shards.append(current)
            current, size = [], 0
        current.append(spec)
        size += spec.nbytes
    shards.append(current)
    if args.layout == "glm45":
        shards.append(mtp)                 # GLM-4.5: the MTP layer is the last numbered shard
    count = len(shards)
    files = [(f"model-{n + 1:05d}-of-{count:05d}.safetensors", specs) for n, specs in enumerate(shards)]
    if args.layout == "glm46":
        files.append(("mtp.safetensors", mtp))
    return files


# ---------------------------------------------------------------------------------------------------------------
# Writing


def header_bytes(specs):
    """The safetensors header: JSON in spec order, padded with spaces to a multiple of 8 bytes."""
    entries, offset = {"__metadata__": {"format": "pt"}}, 0
    for spec in specs:
        entries[spec.name] = {"dtype": spec.dtype, "shape": spec.shape, "data_offsets": [offset, offset + spec.nbytes]}
        offset += spec.nbytes
    text = json.dumps(entries, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % 8)


def to_bf16(values):
    """float32 → bfloat16 bits, round to nearest even."""
    bits = values.view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return rounded.astype(np.uint16)


def write_tensor(stream, spec, seed):
    """Generate `spec` in chunks of whole rows and append its little-endian bytes to `stream`."""
    rng = np.random.Generator(np.random.SFC64([seed, zlib.crc32(spec.name.encode("utf-8"))]))
    row = spec.shape[-1] if spec.shape else 1
    rows_per_chunk = max(1, CHUNK_ELEMENTS // max(row, 1))
    remaining = spec.count
    while remaining > 0:
        n = min(remaining, rows_per_chunk * row)
        values = rng.standard_normal(n, dtype=np.float32)
        values *= np.float32(spec.std)
        values += np.float32(spec.mean)
        data = to_bf16(values) if spec.dtype == "BF16" else values
        stream.write(memoryview(data.astype(data.dtype.newbyteorder("<"), copy=False)))
        remaining -= n


def write_file(path, specs, seed):
    header = header_bytes(specs)
    partial = path + ".partial"
    with open(partial, "wb") as stream:
        stream.write(struct.pack("<Q", len(header)))
        stream.write(header)
        for spec in specs:
            write_tensor(stream, spec, seed)
    os.replace(partial, path)


def human(size):
    """Bytes as a short decimal figure."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def active_bytes_per_token(args, files):
    """Weight bytes one decoded token reads: everything except unused experts, the MTP layer and all but one
    embedding row."""
    total = 0
    mtp_prefix = f"model.layers.{args.layers}."
    for _, specs in files:
        for spec in specs:
            if spec.name.startswith(mtp_prefix):
                continue
            if spec.name == "model.embed_tokens.weight":
                total += spec.nbytes // args.vocab
            elif ".mlp.experts." in spec.name:
                total += spec.nbytes * args.active_experts // args.experts
            else:
                total += spec.nbytes
    return total


def main(argv):
    args = parse_arguments(argv)
    validate(args)
    os.makedirs(args.output, exist_ok=True)
    for existing in ("model.safetensors.index.json", "model.safetensors"):
        if os.path.exists(os.path.join(args.output, existing)):
            sys.exit(f"make_random_glm.py: {args.output} already holds {existing}; choose an empty folder")

    config = make_config(args)
    files = plan_files(args)
    total = sum(spec.nbytes for _, specs in files for spec in specs)
    tensors = sum(len(specs) for _, specs in files)
    print(f"writing {tensors} tensors, {human(total)}, in {len(files)} files to {args.output}", flush=True)

    start, written = time.time(), 0
    weight_map = {}
    for number, (name, specs) in enumerate(files, 1):
        size = sum(spec.nbytes for spec in specs)
        write_file(os.path.join(args.output, name), specs, args.seed)
        written += size
        for spec in specs:
            weight_map[spec.name] = name
        elapsed = time.time() - start
        print(f"[{number}/{len(files)}] {name}: {len(specs)} tensors, {human(size)} "
              f"(total {human(written)} of {human(total)}, {elapsed:.1f} s)", flush=True)

    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    for name, content in (("model.safetensors.index.json", index), ("config.json", config),
                          ("generation_config.json", make_generation_config(config))):
        with open(os.path.join(args.output, name), "w", encoding="utf-8") as stream:
            json.dump(content, stream, indent=2)
            stream.write("\n")

    active = active_bytes_per_token(args, files)
    print(f"done in {time.time() - start:.1f} s: {tensors} tensors, {human(total)}; "
          f"active weight bytes per decoded token (no MTP): {human(active)} ({active} bytes)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
