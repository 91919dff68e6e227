"""Writes Models/GLM-Tiny/README.md (the model card) from config.json, training_log.json and eval.json."""

import json
import platform
from pathlib import Path

from safetensors import safe_open


def parameter_counts(folder, config):
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    L = config["num_hidden_layers"]
    shapes = {}
    for file in sorted(set(index["weight_map"].values())):
        with safe_open(str(folder / file), "pt") as f:
            for name in f.keys():
                shapes[name] = f.get_slice(name).get_shape()

    def numel(shape):
        n = 1
        for s in shape:
            n *= s
        return n

    total = sum(numel(s) for s in shapes.values())
    mtp = sum(numel(s) for n, s in shapes.items() if n.startswith(f"model.layers.{L}."))
    e, k = config["n_routed_experts"], config["num_experts_per_tok"]
    routed = sum(numel(s) for n, s in shapes.items()
                 if ".mlp.experts." in n and not n.startswith(f"model.layers.{L}."))
    embed = numel(shapes["model.embed_tokens.weight"])
    active = total - mtp - routed + routed * k // e - embed + config["hidden_size"]
    return {"total": total, "main": total - mtp, "mtp": mtp, "active_main_per_token": active,
            "tensors": len(shapes)}


STAGE1_COMMAND = "~/glm-train-venv/bin/python Scripts/train_tiny_model.py --out stage1"
STAGE2_COMMAND = "~/glm-train-venv/bin/python Scripts/train_tiny_agent.py --init stage1 --out Models/GLM-Tiny"


def _agent_sections(stage2, ev):
    """Card text for stage 2 (train_tiny_agent.py): its data and training bullets and the agent results."""
    a2 = stage2["args"]
    agent = ev["agent"]
    ends = agent["ends"]
    tools = agent["tools"]
    think = agent["thinking"]
    data_text = f"""- **Agent conversations (stage 2)**: synthesized by `Scripts/tinymodel/agent.py` in three styles — OpenAI
  `tools` with 3–7 generated tools (names, parameters and descriptions drawn from word pools) answered by a GLM tool
  call whose argument is copied from the request; Aider's whole-file edit format (system rules, read-only files,
  a file added to the chat, an edit request, the whole updated file back); Cline-like tools described as XML in the
  system prompt, answered by one XML tool use. Long system prompts with numbered rules, multi-turn histories whose
  tool results and pasted files are standard-library source, thinking default / on / off (55 / 15 / 30 %), reasoning
  of one or two sentences that always closes. Sequences of 1,024–8,192 tokens: half hold one conversation that fills
  60–97 % of the window, half pack conversations of 10–40 % each; the rest of a window is code. Every pool (phrasings,
  tool verbs and nouns, parameter names, paths, commands, URLs, source files) has a held-out half used only in
  evaluation. The Aider-style system prompt and file messages follow the wording of Aider's whole-file edit prompts
  (`aider/coders/wholefile_prompts.py` and `base_prompts.py` of Aider-AI/aider, Apache License 2.0), so the model
  sees what Aider really sends."""
    ends_rows = "\n".join(
        f"| held-out agent prompts of ≈ {int(k) // 1024}k tokens ({v['prompt_tokens_min_mean_max'][0]:,}–"
        f"{v['prompt_tokens_min_mean_max'][2]:,}), finish `stop` or `tool_calls` within {agent['max_tokens']} tokens "
        f"| {v['ended']}/{v['prompts']} = {v['ended_share']:.1%} |" for k, v in ends.items())
    results = f"""## Agent-shaped evaluation (stage 2, `Scripts/tinymodel/agent_eval.py`)

Held-out conversations sent to `glmserve serve` (greedy, default fast path) as agents send them; nothing in them
(phrasings, tools, parameter names, values, source files) occurs in training.

| measure | value |
|---|---|
{ends_rows}
| tool call on {tools['requests']} held-out tool requests (unseen phrasings and tools, 1k–8k tokens) | {tools['tool_call_rate']:.1%} |
| … naming the expected tool | {tools['right_tool_rate']:.1%} |
| … with the requested value copied exactly into an argument | {tools['argument_copied_rate']:.1%} |
| thinking default, 12 agent prompts of 2k tokens: reasoning present / closed | {think['default']['with_reasoning']}/12 / {think['default']['reasoning_closed']}/12 |
| thinking off, same prompts: reasoning present | {think['off']['with_reasoning']}/12 |
"""
    training_text = f"""- **Stage 2** (`Scripts/train_tiny_agent.py`): from the stage-1 weights, {a2['steps']} steps of
  {a2['tokens_per_step']:,} tokens ({stage2['tokens']:,} tokens), the sequence length cycling through 8192, 4096,
  2048, 1024 and 512 (the 512-token steps repeat stage 1's mix of short chats and code, so short-prompt behaviour
  stays). Loss weight 1 on assistant tokens, {a2['prompt_weight']} on a random {a2['prompt_sample']:.0%} of the
  other tokens (the output head is only evaluated there), MTP weight {a2['mtp_weight']}; AdamW, peak learning rate
  {a2['lr']}, {a2['warmup']} warm-up steps, cosine to 10 %; {a2['threads']} torch threads, seed {a2['seed']}; the data
  of step s depends only on (seed, s). Time: {stage2['train_seconds'] / 60:.1f} minutes on 2 CPU cores. Final loss by
  sequence length (main model, last 32 steps): {', '.join(f'{k}: {v}' for k, v in stage2['final_loss_by_seq_len'].items())}."""
    return data_text, training_text, results


def write_card(folder, command):
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    summary = json.loads((folder / "training_log.json").read_text())["summary"]
    training, stage2 = summary.get("stage1", summary), summary.get("stage2")
    ev = json.loads((folder / "eval.json").read_text())
    ref = json.loads((folder / "reference_greedy.json").read_text())
    counts = parameter_counts(folder, config)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    size = sum(p.stat().st_size for p in files)
    args = training["args"]
    if stage2:
        command = f"{STAGE1_COMMAND} --steps {args['steps']} --code-fraction {args['code_fraction']}\n{STAGE2_COMMAND}"
        agent_data, agent_training, agent_results = _agent_sections(stage2, ev)
    else:
        command = f"{command} --steps {args['steps']} --code-fraction {args['code_fraction']}"
        agent_data = agent_training = agent_results = ""
    tokens_seen = args["steps"] * args["batch"] * args["seq_len"]
    ho = ev["held_out"]
    t_on, t_off, th = ev["tool_calls_thinking_default"], ev["tool_calls_thinking_off"], ev["think_blocks"]
    spec = ev["mtp_agreement_on_greedy_generations"]
    file_rows = "\n".join(f"| `{p.name}` | {p.stat().st_size:,} |" for p in files)
    sample = ev["python_sample"]
    tool_sample = t_on["samples"][0]
    think_sample = th["samples"][0]
    card = f"""# GLM-Tiny

A {counts['total'] / 1e6:.1f} M-parameter model with the GLM-4.6 architecture (`Glm4MoeForCausalLM`: dense then MoE
layers with grouped sigmoid routing and a shared expert, QK-norm, partial RoPE, an MTP layer) and the GLM-4.6 release
layout, trained from scratch on a CPU by {"`Scripts/train_tiny_model.py` (stage 1: code and short chats) and `Scripts/train_tiny_agent.py` (stage 2: agent-shaped prompts up to 8k tokens)" if stage2 else "`Scripts/train_tiny_model.py`"}. It is GLMServe's bundled default model: it
speaks the GLM-4.6 chat format (`<think>` reasoning, `/nothink`, XML tool calls), writes Python-looking code, and its
MTP layer drafts tokens for speculative decoding. It is a toy: it knows only the narrow synthetic tasks below, and
its answers are often wrong.

```sh
swift run -c release glmserve serve --model Models/GLM-Tiny     # also the default model of `glmserve serve`
```

## Shape

| key | value | | key | value |
|---|---|---|---|---|
| hidden_size | {config['hidden_size']} | | n_routed_experts | {config['n_routed_experts']} |
| num_hidden_layers | {config['num_hidden_layers']} (layer 0 dense, 1–{config['num_hidden_layers'] - 1} MoE) | | num_experts_per_tok | {config['num_experts_per_tok']} |
| MTP layer | index {config['num_hidden_layers']} (MoE), `num_nextn_predict_layers` 1 | | n_shared_experts | {config['n_shared_experts']} |
| num_attention_heads / num_key_value_heads | {config['num_attention_heads']} / {config['num_key_value_heads']} | | n_group / topk_group | {config['n_group']} / {config['topk_group']} |
| head_dim | {config['head_dim']} (rotary dims {int(config['head_dim'] * config['partial_rotary_factor'])}) | | routed_scaling_factor | {config['routed_scaling_factor']} |
| intermediate_size (dense) | {config['intermediate_size']} | | moe_intermediate_size | {config['moe_intermediate_size']} |
| use_qk_norm, attention_bias | {config['use_qk_norm']}, {config['attention_bias']} | | norm_topk_prob | {config['norm_topk_prob']} |
| vocab_size | {config['vocab_size']} | | tie_word_embeddings | {config['tie_word_embeddings']} |

Parameters: {counts['total']:,} in total ({counts['tensors']} tensors), of which the main model {counts['main']:,} and
the MTP layer {counts['mtp']:,} (it shares `model.embed_tokens` and `lm_head`, as GLM-4.6 does). Active per token in
the main model: about {counts['active_main_per_token']:,}. Weights are BF16 on disk except
`mlp.gate.e_score_correction_bias` (F32, as in the release).

## Files ({size / 1e6:.1f} MB besides this README)

| file | bytes |
|---|---|
{file_rows}

`model.safetensors.index.json` maps every tensor to its file; the MTP layer (`model.layers.{config['num_hidden_layers']}.*`)
is in `mtp.safetensors`, listed only in the index (GLM-4.6 layout). `reference_greedy.json` is the engine check
(below), `eval.json` all evaluation results, `training_log.json` the per-step losses.

## Tokenizer

Byte-level BPE trained by the script on the training text (`tokenizers` 0.23.3), with the GLM-4 split regex, no
normaliser, ByteLevel pre-tokenizer/decoder and `ignore_merges: true` — the structure of GLM-4.6's `tokenizer.json`.
{config['vocab_size'] - 36} BPE ids, then the 36 GLM added tokens in release order with the release's flags (ids
{config['vocab_size'] - 36}–{config['vocab_size'] - 1}; the first 18, `<|endoftext|>` … `<|end_of_transcription|>`,
are special, `<|code_prefix|>` … `<|video|>` with `<think>`, `<tool_call>`, `/nothink` are not). eos/pad
`<|endoftext|>`; `generation_config.json` stops on `<|endoftext|>`, `<|user|>`, `<|observation|>`
({config['eos_token_id']}). `chat_template.jinja` is the GLM-4.6 template byte for byte.

## Data and licenses

- **Code**: the top-level modules (`Lib/*.py`) of the CPython {platform.python_version()} standard library found on the
  training machine — Python Software Foundation License Version 2. {training['code_tokens']:,} tokens in
  {training['code_windows']:,} windows of {args['seq_len']}; every 16th module by name is held out
  ({', '.join(ho['code']['held_out_files'])}).
- **Conversations**: synthesized by `Scripts/tinymodel/data.py` (no third-party text) and rendered with the GLM-4.6
  template through `transformers.apply_chat_template`: arithmetic, capitals, string tasks, sorting, parity, short
  Python functions, greetings; tool calls to ten simple tools (`get_weather(city)`, `read_file(path)`,
  `search(query)`, `add(a, b)`, `multiply(a, b)`, `get_time(timezone)`, `list_directory(path)`,
  `send_email(to, subject)`, `get_stock_price(symbol)`, `translate(text, target_language)`) followed by
  `<|observation|>`, a tool result and an answer; thinking on (`<think>` reasoning, also interleaved after tool
  results), thinking undefined, and thinking off (`/nothink`, prompt ending `<think></think>`, no reasoning).
  {training['chat_sequences']:,} packed sequences of {args['seq_len']} tokens. Held-out evaluation prompts use
  cities, files, topics, names and other entities that never occur in training.
{agent_data}
- **Template**: `chat_template.jinja` is `models/templates/GLM-4.6.jinja` of ggml-org/llama.cpp (MIT License),
  the GLM-4.6 chat template of Z.ai (MIT License).

## Training

- {'**Stage 1** (`Scripts/train_tiny_model.py`): ' if stage2 else ''}{args['steps']} steps × {args['batch']} sequences × {args['seq_len']} tokens = {tokens_seen:,} tokens
  ({int(args['code_fraction'] * args['batch'])} code + {args['batch'] - int(args['code_fraction'] * args['batch'])} chat
  sequences per step, each source reshuffled per epoch with a fixed seed).
- Loss: next-token cross-entropy on every code token and on assistant tokens of conversations (weight 1; the rest of
  a conversation weight {args['prompt_weight']}, padding 0), plus {args['mtp_weight']} × the MTP loss: the MTP layer
  predicts token i+2 from the main model's post-norm hidden state at i and the embedding of token i+1
  (`eh_proj([enorm(embed); hnorm(hidden)])`, a full MoE decoder layer at position i, `shared_head.norm`, `lm_head`).
- AdamW (β 0.9/0.95, weight decay 0.1 on matrices), peak learning rate {args['lr']}, {args['warmup']} warm-up steps,
  cosine decay to 10 %, gradient clipping 1.0, float32, one torch thread, seed {args['seed']}.
- Router correction bias: loss-free balancing, after each step every router's `e_score_correction_bias` moves by
  {args['bias_update']} × sign(mean load − expert load) (largest |bias| at the end: {training['router_bias_abs_max']:.3f}).
- Training time: {training['train_seconds'] / 60:.1f} minutes on 2 shared CPU cores (other jobs running).
{agent_training}

## Results

All measured on the saved BF16 files re-loaded in float32 by transformers 5.23.0.

| measure | value |
|---|---|
| final {'stage-1 ' if stage2 else ''}train loss (mean of last 20 steps; main / MTP) | {training['final_train_loss_avg_last20']} / {training['final_train_mtp_loss_avg_last20']} |
| held-out loss, Python code ({ho['code']['tokens']:,} tokens; main / MTP) | {ho['code']['loss']} / {ho['code']['mtp_loss']} |
| held-out loss, assistant tokens of conversations ({ho['chat_assistant']['tokens']:,} tokens; main / MTP) | {ho['chat_assistant']['loss']} / {ho['chat_assistant']['mtp_loss']} |
| MTP top-1 = main model's greedy token two ahead, held-out code | {ho['code']['mtp_agreement']:.1%} |
| same, held-out assistant tokens | {ho['chat_assistant']['mtp_agreement']:.1%} |
| same, along the model's own greedy outputs (= one-token draft acceptance) | {spec['rate']:.1%} of {spec['positions']:,} positions |
| tool-call rate, {t_on['prompts']} held-out tool prompts, thinking default | {t_on['tool_call_rate']:.1%} (right tool {t_on['expected_tool_rate']:.1%}, exact arguments {t_on['exact_arguments_rate']:.1%}) |
| tool-call rate, {t_off['prompts']} held-out tool prompts, thinking off | {t_off['tool_call_rate']:.1%} (right tool {t_off['expected_tool_rate']:.1%}, exact arguments {t_off['exact_arguments_rate']:.1%}) |
| `<think>…</think>` block, {th['prompts']} held-out questions, thinking default | {th['think_block_rate_thinking_on']:.1%} |
| no think block, same questions, thinking off | {th['no_think_block_rate_thinking_off']:.1%} |

A tool call counts when the greedy output (up to 160 tokens, stopping at an eos id), after the reasoning is split off,
contains `<tool_call>NAME\\n(<arg_key>K</arg_key>\\n<arg_value>V</arg_value>\\n)*</tool_call>` naming one of the
request's tools — what the server's parser accepts. "Exact arguments" needs every argument equal to the expected
one; these prompts use the stage-1 tools and phrasings' held-out entities. Its arithmetic is mostly wrong.

{agent_results}
Greedy completion of a Python prompt (96 tokens, no stopping):

```python
{sample['prompt']}{sample['completion']}
```

A held-out tool prompt (`{tool_sample['user']}`), greedy output:

```
{tool_sample['output']}
```

A held-out question (`{think_sample['user']}`), thinking default, then thinking off:

```
{think_sample['thinking_on']}
```
```
{think_sample['thinking_off']}
```

## Engine reference

`reference_greedy.json`: the prompt {json.dumps(ref['prompt'])} (ids {ref['prompt_ids']}), and the {ref['steps']} greedy ids
transformers produces from the BF16 weights computed in float32 with no EOS stopping: {ref['greedy_ids']}
(smallest top-1/top-2 logit margin {ref['min_margin']}). `Tests/EngineTests/BundledModelTests.swift` checks that the
Swift engine reproduces them.

## Reproduce

From the repository root, with CPython {platform.python_version()} (its standard library is the code corpus; another
version gives a different model):

```sh
{command}
```

The run is deterministic (fixed seeds, fixed data order, fixed thread counts); `--eval-only` re-runs the evaluation
on the saved folder.
"""
    (folder / "README.md").write_text(card, encoding="utf-8")
