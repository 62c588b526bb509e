"""Shared fixtures: a tiny random xLSTM model directory written with numpy (config.json, model.safetensors and a
byte-level BPE tokenizer.json), the built `xlstm` CLI, and the module itself.

Run: PYTHONPATH=build /usr/bin/python3 -m pytest -q python/tests  (build: the CMake build directory)
"""
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import xlstm_cpp

REPO = Path(__file__).resolve().parents[2]

# ---- a byte-level BPE tokenizer.json (GPT-2 byte alphabet, a few merges, one special token) ----------------


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
          ("a", "n"), ("Ġ", "w"), ("e", "n"), ("Ġa", "n"), ("Ġan", "d"), ("o", "r"), ("Ġ", "b"), ("i", "s")]
EOT = "<|endoftext|>"


def write_tokenizer(path):
    byte_map = bytes_to_unicode()
    vocab = {}
    for i, ch in enumerate(byte_map.values()):  # ids in GPT-2's order of bytes_to_unicode
        vocab[ch] = i
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    eot = len(vocab)
    spec = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": spec, "post_processor": None, "decoder": spec,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in MERGES]},
    }
    Path(path).write_text(json.dumps(tok, ensure_ascii=False))
    return eot + 1, eot


# ---- a tiny xLSTM-7B-family checkpoint (tensor names: src/model/tensor_names.h, shapes: wiring.cpp) ---------


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def write_tiny_model(d, vocab, bos, eos, hidden=48, blocks=2, heads=3, seed=7, with_tokenizer=True):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    qk, v = hidden // 2, hidden
    ffn = int(np.ceil(hidden * 2.667 / 64) * 64)
    cfg = {"model_type": "xlstm", "vocab_size": vocab, "hidden_size": hidden, "embedding_dim": hidden,
           "num_hidden_layers": blocks, "num_blocks": blocks, "num_heads": heads, "qk_dim_factor": 0.5,
           "v_dim_factor": 1.0, "ffn_proj_factor": 2.667, "ffn_round_up_to_multiple_of": 64, "use_bias": False,
           "tie_word_embeddings": False, "add_out_norm": True, "norm_eps": 1e-6, "eps": 1e-6, "chunk_size": 16,
           "weight_mode": "single", "gate_soft_cap": 15.0, "output_logit_soft_cap": 30.0,
           "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos, "force_bos_token_insert": True}
    (d / "config.json").write_text(json.dumps(cfg, indent=1))
    rng = np.random.default_rng(seed)
    t = {}

    def mat(name, rows, cols):
        t[name] = rng.standard_normal((rows, cols)) / np.sqrt(cols) * 1.5

    def vec(name, n, kind="bias"):
        r = rng.standard_normal(n)
        # forget gates mostly open (sigmoid(3) ~ 0.95) so that the state remembers many tokens back
        t[name] = {"norm": 1 + 0.2 * r, "fgate": 3 + 0.5 * r, "igate": 0.5 * r}.get(kind, 0.3 * r)

    t["backbone.embeddings.weight"] = rng.standard_normal((vocab, hidden))
    for i in range(blocks):
        p = f"backbone.blocks.{i}."
        vec(p + "norm_mlstm.weight", hidden, "norm")
        mat(p + "mlstm_layer.q.weight", qk, hidden)
        mat(p + "mlstm_layer.k.weight", qk, hidden)
        mat(p + "mlstm_layer.v.weight", v, hidden)
        mat(p + "mlstm_layer.ogate_preact.weight", v, hidden)
        mat(p + "mlstm_layer.igate_preact.weight", heads, hidden)
        vec(p + "mlstm_layer.igate_preact.bias", heads, "igate")
        mat(p + "mlstm_layer.fgate_preact.weight", heads, hidden)
        vec(p + "mlstm_layer.fgate_preact.bias", heads, "fgate")
        vec(p + "mlstm_layer.multihead_norm.weight", v, "norm")
        mat(p + "mlstm_layer.out_proj.weight", hidden, v)
        vec(p + "norm_ffn.weight", hidden, "norm")
        mat(p + "ffn.proj_up_gate.weight", ffn, hidden)
        mat(p + "ffn.proj_up.weight", ffn, hidden)
        mat(p + "ffn.proj_down.weight", hidden, ffn)
    vec("backbone.out_norm.weight", hidden, "norm")
    mat("lm_head.weight", vocab, hidden)
    write_safetensors(d / "model.safetensors", t)
    return d


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    vocab, eot = write_tokenizer(d / "tokenizer.json")
    write_tiny_model(d, vocab, bos=eot, eos=eot)
    return str(d)


@pytest.fixture(scope="session")
def bare_model_dir(tmp_path_factory):
    """A model directory without tokenizer.json."""
    d = tmp_path_factory.mktemp("bare")
    write_tiny_model(d, 97, bos=0, eos=2, heads=2, seed=11)  # another state layout than model_dir
    return str(d)


@pytest.fixture(scope="session")
def runner(model_dir):
    return xlstm_cpp.Runner(model_dir, device="cpu", threads=1)


@pytest.fixture(scope="session")
def cli():
    """The built `xlstm` CLI: $XLSTM_CLI, or next to the module (build/xlstm)."""
    cands = [os.environ.get("XLSTM_CLI", ""), str(Path(xlstm_cpp.__file__).resolve().parent / "xlstm")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("the xlstm CLI was not found next to the module (set XLSTM_CLI)")
