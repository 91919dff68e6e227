"""GLM-4.x-shaped byte-level BPE tokenizer: GLM-4 split regex, ByteLevel, 36 GLM added tokens at the end."""

import json
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

GLM_SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                   r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# The 36 added tokens of GLM-4.5/4.6 in release order (ids 151329-151364 there); the first 18 are special.
SPECIAL_TOKENS = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
                  "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
                  "<|end_of_video|>", "<|begin_of_audio|>", "<|end_of_audio|>", "<|begin_of_transcription|>",
                  "<|end_of_transcription|>"]
FORMAT_TOKENS = ["<|code_prefix|>", "<|code_middle|>", "<|code_suffix|>", "<think>", "</think>", "<tool_call>",
                 "</tool_call>", "<tool_response>", "</tool_response>", "<arg_key>", "</arg_key>", "<arg_value>",
                 "</arg_value>", "/nothink", "<|begin_of_box|>", "<|end_of_box|>", "<|image|>", "<|video|>"]
ADDED_TOKENS = SPECIAL_TOKENS + FORMAT_TOKENS


def strip_added_tokens(text):
    """Training text without the added-token strings (they never reach BPE, so they must not use vocabulary)."""
    for token in sorted(ADDED_TOKENS, key=len, reverse=True):
        text = text.replace(token, "\n")
    return text


def train_tokenizer(texts, total_vocab):
    """Trains BPE on `texts` so that BPE ids + 36 added tokens = `total_vocab`."""
    tokenizer = Tokenizer(models.BPE(dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False,
                                     ignore_merges=True))
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=total_vocab - len(ADDED_TOKENS), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
                                  special_tokens=[])
    tokenizer.train_from_iterator((strip_added_tokens(t) for t in texts), trainer=trainer)
    base = tokenizer.get_vocab_size()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    for i, token in enumerate(ADDED_TOKENS):
        assert tokenizer.token_to_id(token) == base + i, token
    # Re-read through JSON so the model keeps ignore_merges = true (the GLM release's setting).
    spec = json.loads(tokenizer.to_str())
    spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def tokenizer_config(tokenizer):
    decoder = {}
    for token in ADDED_TOKENS:
        decoder[str(tokenizer.token_to_id(token))] = {
            "content": token, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": token in SPECIAL_TOKENS}
    return {
        "added_tokens_decoder": decoder,
        "additional_special_tokens": SPECIAL_TOKENS,
        "clean_up_tokenization_spaces": False,
        "do_lower_case": False,
        "eos_token": "<|endoftext|>",
        "extra_special_tokens": {},
        "model_max_length": 128000,
        "pad_token": "<|endoftext|>",
        "padding_side": "left",
        "remove_space": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def write_tokenizer_files(tokenizer, folder, template_path):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(json.loads(tokenizer.to_str()), ensure_ascii=False, indent=2)
                                           + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(tokenizer), ensure_ascii=False,
                                                             indent=2) + "\n", encoding="utf-8")
    (folder / "chat_template.jinja").write_bytes(Path(template_path).read_bytes())
