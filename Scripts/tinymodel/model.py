"""GLM-Tiny: transformers' Glm4MoeForCausalLM in miniature plus a GLM-4.6-style MTP layer, and the release layout."""

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from transformers import Glm4MoeConfig, Glm4MoeForCausalLM
from transformers.models.glm4_moe.modeling_glm4_moe import (Glm4MoeDecoderLayer, Glm4MoeExperts, Glm4MoeRMSNorm,
                                                            Glm4MoeTopkRouter)

# The config.json keys in the order of the GLM-4.x releases (rope_theta and partial_rotary_factor top level).
SHAPE = dict(
    hidden_size=192, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
    intermediate_size=512, moe_intermediate_size=128, n_routed_experts=8, num_experts_per_tok=2, n_group=2,
    topk_group=1, n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True,
    use_qk_norm=True, attention_bias=True, partial_rotary_factor=0.5, rope_theta=1000000.0, rms_norm_eps=1e-5,
    max_position_embeddings=202752, tie_word_embeddings=False, hidden_act="silu",
)


def release_config_dict(vocab_size, eos_ids, pad_id, shape=SHAPE):
    return {
        "architectures": ["Glm4MoeForCausalLM"],
        "attention_bias": shape["attention_bias"],
        "attention_dropout": 0.0,
        "pad_token_id": pad_id,
        "eos_token_id": eos_ids,
        "head_dim": shape["head_dim"],
        "hidden_act": shape["hidden_act"],
        "hidden_size": shape["hidden_size"],
        "partial_rotary_factor": shape["partial_rotary_factor"],
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "max_position_embeddings": shape["max_position_embeddings"],
        "model_type": "glm4_moe",
        "moe_intermediate_size": shape["moe_intermediate_size"],
        "norm_topk_prob": shape["norm_topk_prob"],
        "num_attention_heads": shape["num_attention_heads"],
        "n_group": shape["n_group"],
        "topk_group": shape["topk_group"],
        "n_routed_experts": shape["n_routed_experts"],
        "n_shared_experts": shape["n_shared_experts"],
        "routed_scaling_factor": shape["routed_scaling_factor"],
        "num_experts_per_tok": shape["num_experts_per_tok"],
        "first_k_dense_replace": shape["first_k_dense_replace"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "rms_norm_eps": shape["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": shape["rope_theta"],
        "num_nextn_predict_layers": 1,
        "tie_word_embeddings": shape["tie_word_embeddings"],
        "torch_dtype": "bfloat16",
        "transformers_version": "5.23.0",
        "use_cache": True,
        "use_qk_norm": shape["use_qk_norm"],
        "vocab_size": vocab_size,
    }


def hf_config(config_dict):
    d = dict(config_dict)
    d.pop("architectures", None)
    d.pop("transformers_version", None)
    d.pop("torch_dtype", None)
    d.pop("model_type", None)
    config = Glm4MoeConfig(**d)
    config._attn_implementation = "sdpa"
    return config


class MtpLayer(nn.Module):
    """The GLM-4.6 next-token-prediction layer (index num_hidden_layers): predicts token i+2 from the main model's
    post-norm hidden state at i and the embedding of token i+1. Embedding and output head are the main model's."""

    def __init__(self, config):
        super().__init__()
        h = config.hidden_size
        self.enorm = Glm4MoeRMSNorm(h, eps=config.rms_norm_eps)
        self.hnorm = Glm4MoeRMSNorm(h, eps=config.rms_norm_eps)
        self.eh_proj = nn.Linear(2 * h, h, bias=False)
        self.layer = Glm4MoeDecoderLayer(config, layer_idx=config.num_hidden_layers)  # MoE: index >= first_k_dense
        self.shared_head_norm = Glm4MoeRMSNorm(h, eps=config.rms_norm_eps)
        assert not isinstance(self.layer.mlp, nn.Sequential)

    def forward(self, hidden_postnorm, next_embeds, position_embeddings):
        """hidden_postnorm[b, i] = hN_i, next_embeds[b, i] = Embed(t_{i+1}); returns shared_head.norm(y)."""
        u = torch.cat([self.enorm(next_embeds), self.hnorm(hidden_postnorm)], dim=-1)  # embedding first
        z = self.eh_proj(u)
        y = self.layer(z, attention_mask=None, position_embeddings=position_embeddings)  # sdpa: causal
        return self.shared_head_norm(y)


def init_mtp(mtp, std=0.02):
    for module in mtp.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, Glm4MoeRMSNorm):
            nn.init.ones_(module.weight)
        elif isinstance(module, Glm4MoeTopkRouter):
            nn.init.normal_(module.weight, std=std)
            module.e_score_correction_bias.zero_()
        elif isinstance(module, Glm4MoeExperts):
            nn.init.normal_(module.gate_up_proj, std=std)
            nn.init.normal_(module.down_proj, std=std)


class TinyGlm(nn.Module):
    """Main model + MTP layer, trained together."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.lm = Glm4MoeForCausalLM(config)
        self.mtp = MtpLayer(config)
        init_mtp(self.mtp)

    def forward(self, input_ids):
        """Returns (main logits [B, T, V], MTP logits [B, T-1, V]); MTP row i predicts token i+2."""
        base = self.lm.model
        out = base(input_ids=input_ids, use_cache=False)
        hn = out.last_hidden_state                      # post model.norm
        logits = self.lm.lm_head(hn)
        embeds = base.embed_tokens(input_ids[:, 1:])
        t = input_ids.shape[1] - 1
        positions = torch.arange(t, device=input_ids.device).unsqueeze(0)  # row i at position p_i (vLLM/SGLang)
        pos_emb = base.rotary_emb(hn, positions)
        g = self.mtp(hn[:, :-1], embeds, pos_emb)
        return logits, self.lm.lm_head(g)


def routers(model):
    return [m for m in model.modules() if isinstance(m, Glm4MoeTopkRouter)]


def adamw(model, lr):
    """AdamW with weight decay 0.1 on matrices (not embeddings), none on vectors; β 0.9/0.95."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def warmup_cosine(step, steps, warmup, peak):
    """Learning rate: linear warm-up over `warmup` steps, then cosine decay to 10 % of `peak` at `steps`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_step(model, opt, balancer, loss):
    """Backward, clip the gradient norm to 1, AdamW step, router bias update; returns the norm before clipping."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    balancer.update()
    return grad_norm


class LossFreeBalancer:
    """Loss-free load balancing: counts each router's expert choices during a step, then moves its
    `e_score_correction_bias` by step_size × sign(mean load − expert load)."""

    def __init__(self, model, step_size):
        self.step_size = step_size
        self.routers = routers(model)
        self.loads = {id(r): torch.zeros(r.num_experts) for r in self.routers}
        self.hooks = [r.register_forward_hook(self._count) for r in self.routers]

    def _count(self, module, _inputs, output):
        self.loads[id(module)] += torch.bincount(output[2].reshape(-1), minlength=module.num_experts).float()

    @torch.no_grad()
    def update(self):
        for r in self.routers:
            load = self.loads[id(r)]
            if self.step_size > 0:
                r.e_score_correction_bias += self.step_size * torch.sign(load.mean() - load)
            load.zero_()

    def remove(self):
        for h in self.hooks:
            h.remove()

    def largest_bias(self):
        return max(float(r.e_score_correction_bias.abs().max()) for r in self.routers)


def release_state_dict(model):
    """Tensor name -> tensor in the GLM-4.6 checkpoint naming (per-expert tensors, MTP at layer L), BF16 except
    the router correction bias (F32)."""
    cfg = model.config
    L, im = cfg.num_hidden_layers, cfg.moe_intermediate_size
    out = {}

    def put(name, tensor):
        tensor = tensor.detach().contiguous()
        if name.endswith("e_score_correction_bias"):
            out[name] = tensor.to(torch.float32).clone()
        else:
            out[name] = tensor.to(torch.bfloat16).clone()

    def put_layer(prefix, state):
        for key, value in state.items():
            if key.endswith("experts.gate_up_proj"):
                base = key[: -len("gate_up_proj")]
                for e in range(value.shape[0]):
                    put(f"{prefix}{base}{e}.gate_proj.weight", value[e, :im])
                    put(f"{prefix}{base}{e}.up_proj.weight", value[e, im:])
            elif key.endswith("experts.down_proj"):
                base = key[: -len("down_proj")]
                for e in range(value.shape[0]):
                    put(f"{prefix}{base}{e}.down_proj.weight", value[e])
            else:
                put(prefix + key, value)

    lm = model.lm
    put("model.embed_tokens.weight", lm.model.embed_tokens.weight)
    for i, layer in enumerate(lm.model.layers):
        put_layer(f"model.layers.{i}.", layer.state_dict())
    put("model.norm.weight", lm.model.norm.weight)
    put("lm_head.weight", lm.lm_head.weight)
    mtp = model.mtp
    put_layer(f"model.layers.{L}.", mtp.layer.state_dict())
    put(f"model.layers.{L}.enorm.weight", mtp.enorm.weight)
    put(f"model.layers.{L}.hnorm.weight", mtp.hnorm.weight)
    put(f"model.layers.{L}.eh_proj.weight", mtp.eh_proj.weight)
    put(f"model.layers.{L}.shared_head.norm.weight", mtp.shared_head_norm.weight)
    return out


def save_release(model, folder, config_dict, generation_config):
    """Writes config.json, generation_config.json, two model shards, mtp.safetensors and the index."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = release_state_dict(model)
    L = model.config.num_hidden_layers
    half = L // 2

    def shard_of(name):
        if name.startswith(f"model.layers.{L}."):
            return "mtp.safetensors"
        if name == "model.embed_tokens.weight":
            return "model-00001-of-00002.safetensors"
        if name.startswith("model.layers."):
            index = int(name.split(".")[2])
            return "model-00001-of-00002.safetensors" if index < half else "model-00002-of-00002.safetensors"
        return "model-00002-of-00002.safetensors"

    shards = {}
    for name, tensor in tensors.items():
        shards.setdefault(shard_of(name), {})[name] = tensor
    weight_map = {}
    for file, group in sorted(shards.items()):
        save_file(group, str(folder / file), metadata={"format": "pt"})
        for name in group:
            weight_map[name] = file
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(config_dict, indent=2) + "\n")
    (folder / "generation_config.json").write_text(json.dumps(generation_config, indent=2) + "\n")
    return tensors


def load_release_mtp(folder, config):
    """Reads the MTP layer back from the release files into an MtpLayer (float32)."""
    from safetensors.torch import load_file
    folder = Path(folder)
    L, im = config.num_hidden_layers, config.moe_intermediate_size
    raw = {k: v.float() for k, v in load_file(str(folder / "mtp.safetensors")).items()}
    prefix = f"model.layers.{L}."
    mtp = MtpLayer(config)
    state = {}
    e_count = config.n_routed_experts
    for key in mtp.layer.state_dict():
        if key.endswith("experts.gate_up_proj"):
            base = prefix + key[: -len("gate_up_proj")]
            state[key] = torch.stack([torch.cat([raw[f"{base}{e}.gate_proj.weight"],
                                                 raw[f"{base}{e}.up_proj.weight"]]) for e in range(e_count)])
        elif key.endswith("experts.down_proj"):
            base = prefix + key[: -len("down_proj")]
            state[key] = torch.stack([raw[f"{base}{e}.down_proj.weight"] for e in range(e_count)])
        else:
            state[key] = raw[prefix + key]
    mtp.layer.load_state_dict(state)
    mtp.enorm.weight.data.copy_(raw[prefix + "enorm.weight"])
    mtp.hnorm.weight.data.copy_(raw[prefix + "hnorm.weight"])
    mtp.eh_proj.weight.data.copy_(raw[prefix + "eh_proj.weight"])
    mtp.shared_head_norm.weight.data.copy_(raw[prefix + "shared_head.norm.weight"])
    assert im > 0
    return mtp


def mtp_logits(lm, mtp, input_ids):
    """Main logits and MTP logits for a [1, T] sequence (MTP row i = prediction of token i+2)."""
    base = lm.model
    out = base(input_ids=input_ids, use_cache=False)
    hn = out.last_hidden_state
    logits = lm.lm_head(hn)
    embeds = base.embed_tokens(input_ids[:, 1:])
    positions = torch.arange(input_ids.shape[1] - 1).unsqueeze(0)
    g = mtp(hn[:, :-1], embeds, base.rotary_emb(hn, positions))
    return logits, lm.lm_head(g)


def masked_ce(logits, targets, mask):
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    mask = mask.reshape(-1).float()
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)
