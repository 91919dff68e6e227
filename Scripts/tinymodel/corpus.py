"""Token sequences for training and evaluation: code windows and packed chat conversations with loss masks."""

import random

import numpy as np

from . import data


def encode_pieces(hf_tok, pieces):
    """Concatenated ids of (text, trained) pieces and the per-token 'trained' mask. Pieces end and start at added
    tokens, so encoding them one by one equals encoding the whole text."""
    ids, mask = [], []
    for text, trained in pieces:
        piece = hf_tok.encode(text, add_special_tokens=False)
        ids += piece
        mask += [trained] * len(piece)
    return ids, mask


def code_windows(hf_tok, files, seq_len, eot_id):
    """Non-overlapping windows of seq_len tokens over the files' text, files joined by <|endoftext|>."""
    stream = []
    for path in files:
        stream += hf_tok.encode(data.read_text(path), add_special_tokens=False) + [eot_id]
    n = len(stream) // seq_len
    arr = np.array(stream[: n * seq_len], dtype=np.int64).reshape(n, seq_len)
    return arr, len(stream)


def chat_sequences(hf_tok, renderer, count, seq_len, seed, held_out, pad_id):
    """`count` synthesized conversations packed greedily into seq_len sequences.
    Returns (ids, mask, real), each [N, seq_len]: mask marks the assistant tokens the model learns to produce,
    real marks every non-padding token."""
    rng = random.Random(seed)
    ent = data.Entities(held_out)
    seqs, masks, reals = [], [], []
    cur_ids, cur_mask = [], []
    for _ in range(count):
        messages, tools, first, thinking = data.synth_conversation(rng, ent)
        ids, mask = encode_pieces(hf_tok, renderer.pieces(messages, tools, first, thinking))
        if len(ids) > seq_len:
            continue
        if len(cur_ids) + len(ids) > seq_len:
            reals.append([True] * len(cur_ids) + [False] * (seq_len - len(cur_ids)))
            seqs.append(cur_ids + [pad_id] * (seq_len - len(cur_ids)))
            masks.append(cur_mask + [False] * (seq_len - len(cur_mask)))
            cur_ids, cur_mask = [], []
        cur_ids += ids
        cur_mask += mask
    if cur_ids:
        reals.append([True] * len(cur_ids) + [False] * (seq_len - len(cur_ids)))
        seqs.append(cur_ids + [pad_id] * (seq_len - len(cur_ids)))
        masks.append(cur_mask + [False] * (seq_len - len(cur_mask)))
    return np.array(seqs, dtype=np.int64), np.array(masks, dtype=bool), np.array(reals, dtype=bool)
