#!/usr/bin/env python3
"""Write the third-party quantized fixture folders of Tests/Fixtures/models/q-* with the real quantizers.

A tiny random GLM-4.x model (Scripts/make_random_glm.py, float32, dims multiples of 128 where groups need it) is
quantised by each library and saved in that library's own layout; reference logits come from the library's own
runtime where it runs on CPU, else from transformers on the dequantised weights (the format's specification):

| folder | made by | reference logits from |
|---|---|---|
| q-ct-w4-g128-sym, q-ct-w4-g32-asym, q-ct-w8-channel-asym | llmcompressor `oneshot` + QuantizationModifier, saved `pack-quantized` | transformers (compressed-tensors decompression) |
| q-ct-w8-naive | same, `naive-quantized` | transformers (compressed-tensors decompression) |
| q-ct-fp8-channel, q-ct-fp8-block | same, `float-quantized` weight-only FP8 | transformers on W = fp8 · weight_scale (f32) |
| q-awq-g32 | AutoAWQ `WQLinear_GEMM.from_linear` (its packing, GEMM layout) | transformers on AutoAWQ's `dequantize_gemm` (f32) |
| q-gptq-g32-actorder | GPTQModel `TorchLinear.pack_original` (desc_act, sym, v1 zeros) | transformers on the spec dequantisation (f32) |
| q-mlx-4bit-g64 | mlx-lm `quantize_model` (affine, 4-bit g64, 8-bit g32 overrides for v_proj/down_proj) | mlx-lm model on CPU |

Each folder gets `reference.safetensors`: `s.input_ids` (I32 [T]), `s.logits` (F32 [T, V]), `greedy.prompt_ids`,
`greedy.tokens` (I32), made from the quantised weights, all in float32.

Run (versions pinned in Scripts/requirements-quant.txt):
    python3 -m venv .venv-q && .venv-q/bin/pip install -r Scripts/requirements-quant.txt
    .venv-q/bin/python Scripts/make_quantized_fixtures.py --output Tests/Fixtures/models
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = [17, 301, 5, 77, 412, 9, 250, 33, 128, 64, 499, 2]
GREEDY_PROMPT = [3, 140, 88, 271]
GREEDY_STEPS = 8


def make_base(path):
    subprocess.run([sys.executable, os.path.join(HERE, "make_random_glm.py"), "--output", path,
                    "--hidden-size", "128", "--layers", "2", "--experts", "4", "--active-experts", "2",
                    "--moe-intermediate", "128", "--intermediate", "256", "--heads", "4", "--kv-heads", "2",
                    "--head-dim", "32", "--vocab", "512", "--dtype", "f32", "--seed", "7"], check=True,
                   stdout=subprocess.DEVNULL)
    os.remove(os.path.join(path, "generation_config.json"))   # its sampling defaults trip save_pretrained's checks


def write_reference(folder, logits_fn, greedy_fn, note):
    """logits_fn(ids) -> [T, V] float32 numpy; greedy_fn(prompt, steps) -> list of ids."""
    logits = np.asarray(logits_fn(PROMPT), dtype=np.float32)
    tokens = greedy_fn(GREEDY_PROMPT, GREEDY_STEPS)
    tensors = {
        "s.input_ids": torch.tensor(PROMPT, dtype=torch.int32),
        "s.logits": torch.from_numpy(logits.copy()),
        "greedy.prompt_ids": torch.tensor(GREEDY_PROMPT, dtype=torch.int32),
        "greedy.tokens": torch.tensor(tokens, dtype=torch.int32),
    }
    save_file(tensors, os.path.join(folder, "reference.safetensors"), metadata={"reference": note})


def torch_greedy(model):
    def run(prompt, steps):
        ids = list(prompt)
        with torch.no_grad():
            for _ in range(steps):
                out = model(torch.tensor([ids])).logits[0, -1]
                ids.append(int(out.argmax()))
        return ids[len(prompt):]
    return run


def torch_logits(model):
    def run(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].float().numpy()
    return run


def load_hf(path):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return model


def copy_side_files(base, out):
    for name in ("generation_config.json",):
        if os.path.exists(os.path.join(base, name)):
            shutil.copy(os.path.join(base, name), os.path.join(out, name))


# ---------------------------------------------------------------------------------------------- compressed-tensors

def compressed_tensors_gptq_fixture(base, out):
    """llm-compressor's GPTQModifier (Hessian-based GPTQ on random calibration tokens, actorder "weight")."""
    from compressed_tensors.quantization import QuantizationScheme, QuantizationArgs
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modeling.moe.linearize import linearize_moe
    from llmcompressor.modifiers.gptq import GPTQModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    linearize_moe(model)
    gen = torch.Generator().manual_seed(3)
    samples = [{"input_ids": torch.randint(0, 512, (32,), generator=gen).tolist(),
                "attention_mask": [1] * 32} for _ in range(16)]
    recipe = GPTQModifier(config_groups={"group_0": QuantizationScheme(
        targets=["Linear"], weights=QuantizationArgs(num_bits=4, type="int", symmetric=True, strategy="group",
                                                    group_size=32, actorder="weight"))},
        ignore=["lm_head", "re:.*mlp\\.gate$"])
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(HERE, "..", "Tests", "Fixtures", "tokenizer"))
    oneshot(model=model, recipe=recipe, dataset=Dataset.from_list(samples), num_calibration_samples=16,
            max_seq_length=32, tokenizer=tokenizer)   # the samples are token ids already; oneshot wants a processor
    model.save_pretrained(out, save_compressed=True)
    copy_side_files(base, out)
    try:
        reference = load_hf(out)
        note = "transformers (from_pretrained of this folder) + compressed-tensors decompression, float32"
    except Exception as error:
        print(f"transformers could not load {out}: {str(error).splitlines()[0]}; using the in-memory model", flush=True)
        reference = model
        note = ("llmcompressor's in-memory model after save_pretrained (compressed-tensors decompression hook), "
                "float32; transformers.from_pretrained failed: " + str(error).splitlines()[0])
    reference.eval()
    write_reference(out, torch_logits(reference), torch_greedy(reference), note)


def compressed_tensors_fixture(base, out, scheme, fmt):
    from compressed_tensors.quantization import QuantizationScheme, QuantizationArgs
    from llmcompressor import oneshot
    from llmcompressor.modeling.moe.linearize import linearize_moe
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    linearize_moe(model)   # per-expert Linear modules, so the experts are quantised too
    recipe = QuantizationModifier(config_groups={"group_0": QuantizationScheme(
        targets=["Linear"], weights=QuantizationArgs(**scheme))}, ignore=["lm_head", "re:.*mlp\\.gate$"])
    oneshot(model=model, recipe=recipe)
    model.save_pretrained(out, save_compressed=True, quantization_format=fmt)
    copy_side_files(base, out)
    if fmt == "float-quantized":
        # transformers 5.17 keeps these weights in FP8 and its forward differs from W = fp8 · scale by up to
        # 0.015 in the logits here; the reference is the format's own definition, dequantised in f32.
        tensors = load_file(os.path.join(out, "model.safetensors"))
        dequantised = {k: fp8_dequantised(k, v, tensors) for k, v in tensors.items() if not k.endswith(".weight_scale")}
        reference_from_dequantised(base, out, dequantised,
                                   "transformers on the compressed-tensors FP8 definition W = fp8 · weight_scale (float32)")
        return
    try:
        reference = load_hf(out)   # transformers decompresses with compressed-tensors
        note = "transformers (from_pretrained of this folder) + compressed-tensors decompression, float32"
    except Exception as error:     # transformers 5.17 cannot decompress asymmetric fused experts (zero points)
        print(f"transformers could not load {out}: {str(error).splitlines()[0]}; using the in-memory model", flush=True)
        reference = model          # compressed in place by save_pretrained; its hook decompresses before forward
        note = ("llmcompressor's in-memory model after save_pretrained (compressed-tensors decompression hook), "
                "float32; transformers.from_pretrained failed: " + str(error).splitlines()[0])
    reference.eval()
    write_reference(out, torch_logits(reference), torch_greedy(reference), note)


# ---------------------------------------------------------------------------------------------- AWQ / GPTQ

def linear_weights(base):
    """Every quantisable Linear weight of the base (per-expert names, as in the release), f32 [out, in]."""
    tensors = load_file(os.path.join(base, "model-00001-of-00001.safetensors"))
    return {k: v for k, v in tensors.items()
            if k.endswith("_proj.weight") and ".layers." in k}, tensors


def asym_params(w, group, bits):
    """Min-max asymmetric scales/zeros per (row, group): w ≈ (q - z) · s."""
    out_f, in_f = w.shape
    g = w.reshape(out_f, in_f // group, group)
    lo = torch.minimum(g.min(-1).values, torch.zeros(()))
    hi = torch.maximum(g.max(-1).values, torch.zeros(()))
    maxq = 2 ** bits - 1
    scale = ((hi - lo) / maxq).clamp(min=1e-8)
    zero = torch.round(-lo / scale).clamp(0, maxq)
    return scale.half().float(), zero     # both [out, groups]; scales stored as F16 by both formats


def awq_fixture(base, out, group=32, bits=4):
    import torch.nn as nn
    from awq.modules.linear.gemm import WQLinear_GEMM
    from awq.utils.packing_utils import dequantize_gemm

    linears, tensors = linear_weights(base)
    saved, dequantised = {}, dict(tensors)
    for name, w in linears.items():
        prefix = name[: -len(".weight")]
        lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        lin.weight.data = w.clone()
        scale, zero = asym_params(w, group, bits)
        q = WQLinear_GEMM.from_linear(lin, bits, group, scales=scale.t().contiguous(), zeros=zero.t().contiguous())
        saved[prefix + ".qweight"] = q.qweight
        saved[prefix + ".qzeros"] = q.qzeros
        saved[prefix + ".scales"] = q.scales
        deq = dequantize_gemm(q.qweight, q.qzeros, q.scales.float(), bits, group)   # [in, out], library's unpacking
        dequantised[name] = deq.t().contiguous().float()
    for k, v in tensors.items():
        if k not in linears:
            saved[k] = v
    finish_packed(base, out, saved, dequantised, {
        "quant_method": "awq", "bits": bits, "group_size": group, "zero_point": True, "version": "gemm",
        "modules_to_not_convert": None}, "transformers on AutoAWQ dequantize_gemm (float32)")


def gptq_fixture(base, out, group=32, bits=4):
    import torch.nn as nn
    from gptqmodel.nn_modules.qlinear.torch import TorchLinear

    linears, tensors = linear_weights(base)
    saved, dequantised = {}, dict(tensors)
    gen = torch.Generator().manual_seed(11)
    maxq = 2 ** bits - 1
    for name, w in linears.items():
        prefix = name[: -len(".weight")]
        out_f, in_f = w.shape
        # act-order: a random column permutation decides which columns share a group (as GPTQ's desc_act does)
        perm = torch.randperm(in_f, generator=gen)
        g_idx = torch.empty(in_f, dtype=torch.int32)
        g_idx[perm] = torch.arange(in_f, dtype=torch.int32) // group
        ngroups = in_f // group
        scale = torch.empty(out_f, ngroups)
        for gi in range(ngroups):   # symmetric: z = 2^(b-1)
            cols = (g_idx == gi)
            amax = w[:, cols].abs().max(-1).values.clamp(min=1e-8)
            scale[:, gi] = (amax / (maxq / 2)).half().float()
        zero = torch.full((out_f, ngroups), float((maxq + 1) // 2))
        lin = nn.Linear(in_f, out_f, bias=False)
        lin.weight.data = w.clone()
        q = TorchLinear(bits=bits, group_size=group, sym=True, desc_act=True, in_features=in_f, out_features=out_f,
                        bias=False, register_buffers=True)
        q.pack_original(lin, scale, zero.to(torch.int32), g_idx=g_idx)
        # gptq v1 checkpoints store zero - 1 (the classic 0x77777777 for symmetric 4-bit)
        zeros_v1 = (zero.t().to(torch.int64) - 1)
        packed = torch.zeros(ngroups, out_f * bits // 32, dtype=torch.int64)
        for j in range(32 // bits):
            packed |= zeros_v1[:, j::32 // bits] << (bits * j)
        saved[prefix + ".qweight"] = q.qweight
        saved[prefix + ".qzeros"] = packed.to(torch.uint32).view(torch.int32) if hasattr(torch, "uint32") else packed.to(torch.int32)
        saved[prefix + ".scales"] = q.scales
        saved[prefix + ".g_idx"] = q.g_idx.to(torch.int32)
        # spec dequantisation in f32: W[o, i] = (q[i, o] - z[g_idx[i], o]) · s[g_idx[i], o]
        qw = q.qweight.to(torch.int64) & 0xFFFFFFFF
        codes = torch.stack([(qw >> (bits * j)) & maxq for j in range(32 // bits)], 1).reshape(in_f, out_f)
        gi = q.g_idx.long()
        deq = (codes.float() - zero.t()[gi]) * q.scales.float()[gi]
        dequantised[name] = deq.t().contiguous()
        lib = q.dequantize_weight().t().float()        # the library's own unpacking (F16), as a cross-check
        assert (lib - dequantised[name]).abs().max() <= 1e-2 * dequantised[name].abs().max(), name
    for k, v in tensors.items():
        if k not in linears:
            saved[k] = v
    finish_packed(base, out, saved, dequantised, {
        "quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": True, "sym": True,
        "checkpoint_format": "gptq", "static_groups": False, "true_sequential": True},
        "transformers on the GPTQ spec dequantisation (float32), packed by GPTQModel")


def fp8_dequantised(name, value, tensors):
    """W = fp8 · scale, the scale per output channel [r, 1] or per 128×128 block [ceil(r/128), ceil(c/128)]."""
    if value.dtype != torch.float8_e4m3fn:
        return value
    scale = tensors[name + "_scale"].float()
    if scale.shape == (value.shape[0], 1):
        return value.float() * scale
    full = scale.repeat_interleave(128, 0).repeat_interleave(128, 1)[: value.shape[0], : value.shape[1]]
    return value.float() * full


def reference_from_dequantised(base, out, dequantised, note):
    with tempfile.TemporaryDirectory() as tmp:    # the dequantised model for transformers
        save_file(dequantised, os.path.join(tmp, "model.safetensors"))
        json.dump(json.load(open(os.path.join(base, "config.json"))), open(os.path.join(tmp, "config.json"), "w"))
        model = load_hf(tmp)
        write_reference(out, torch_logits(model), torch_greedy(model), note)


def finish_packed(base, out, saved, dequantised, qconfig, note):
    os.makedirs(out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in saved.items()}, os.path.join(out, "model.safetensors"),
              metadata={"format": "pt"})
    config = json.load(open(os.path.join(base, "config.json")))
    config["quantization_config"] = qconfig
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
    copy_side_files(base, out)
    reference_from_dequantised(base, out, dequantised, note)


# ---------------------------------------------------------------------------------------------- MLX

def mlx_fixture(base, out):
    import mlx.core as mx
    from mlx_lm.utils import load_model, quantize_model, save_model, save_config

    mx.set_default_device(mx.cpu)
    model, config = load_model(__import__("pathlib").Path(base))

    def predicate(path, module):
        if not hasattr(module, "to_quantized"):
            return False
        if path.endswith("v_proj") or path.endswith("down_proj"):
            return {"group_size": 32, "bits": 8}
        return True

    model, config = quantize_model(model, config, 64, 4, mode="affine", quant_predicate=predicate)
    os.makedirs(out, exist_ok=True)
    save_model(__import__("pathlib").Path(out), model)
    save_config(config, __import__("pathlib").Path(out) / "config.json")
    copy_side_files(base, out)

    def logits(ids):
        return np.array(model(mx.array([ids]))[0].astype(mx.float32))

    def greedy(prompt, steps):
        ids = list(prompt)
        for _ in range(steps):
            ids.append(int(np.argmax(np.array(model(mx.array([ids]))[0, -1].astype(mx.float32)))))
        return ids[len(prompt):]
    write_reference(out, logits, greedy, "mlx-lm model on CPU (float32 activations)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--only", default=None, help="comma-separated fixture names")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="quant-fixtures-")
    base = os.path.join(work, "base")
    make_base(base)
    jobs = {
        "q-ct-w4-g128-sym": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=4, type="int", symmetric=True,
                                                                               strategy="group", group_size=128), "pack-quantized"),
        "q-ct-w4-g32-asym": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=4, type="int", symmetric=False,
                                                                               strategy="group", group_size=32), "pack-quantized"),
        "q-ct-w8-channel-asym": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=8, type="int", symmetric=False,
                                                                                   strategy="channel"), "pack-quantized"),
        "q-ct-w8-naive": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=8, type="int", symmetric=True,
                                                                            strategy="channel"), "naive-quantized"),
        "q-ct-fp8-channel": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=8, type="float", symmetric=True,
                                                                               strategy="channel"), "float-quantized"),
        "q-ct-fp8-block": lambda o: compressed_tensors_fixture(base, o, dict(num_bits=8, type="float", symmetric=True,
                                                                             strategy="block", block_structure=[128, 128]), "float-quantized"),
        "q-ct-gptq-w4-g32": lambda o: compressed_tensors_gptq_fixture(base, o),
        "q-awq-g32": lambda o: awq_fixture(base, o),
        "q-gptq-g32-actorder": lambda o: gptq_fixture(base, o),
        "q-mlx-4bit-g64": lambda o: mlx_fixture(base, o),
    }
    names = args.only.split(",") if args.only else list(jobs)
    for name in names:
        out = os.path.join(args.output, name)
        if os.path.exists(out):
            shutil.rmtree(out)
        print(f"== {name}", flush=True)
        jobs[name](out)
        for extra in ("recipe.yaml",):     # llmcompressor's recipe is not part of the release layout we test
            if os.path.exists(os.path.join(out, extra)):
                os.remove(os.path.join(out, extra))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
