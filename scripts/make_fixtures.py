#!/usr/bin/env python3
"""Reference fixtures for the xLSTM-7B family ("xLSTM Large", HF model_type "xlstm") from transformers.

Run on the GPU machine (transformers 5.17, torch 2.11); everything is computed on its CPU:

    PYTHONUNBUFFERED=1 python3 scripts/make_fixtures.py --out tests/fixtures/models

For each tiny random-weight model (see FIXTURES below) it writes tests/fixtures/models/<name>/:
  config.json                      as written by transformers' save_pretrained (model_type "xlstm")
  model.safetensors                or model-0000k-of-0000n.safetensors + model.safetensors.index.json
  ids_<L>.npy                      int64 [L], the whole prompt (no BOS is inserted), random ids in [3, V)
  logits_<L>.npy                   float32 [L, V], every row, for L in 1, 15, 16, 63, 64, 65
  logits_300_last64.npy            float32 [64, V], the last 64 rows for L = 300
  expected.json                    {"meta": {...}, "cases": {"<L>": {"greedy_new": [16 ids], "margins": [...]}}}

Definitions
  relative max error of an array A against a reference R:  max|A - R| / max|R|  over the whole array.
  reference logits: transformers' xLSTMForCausalLM in float32 on the CPU, one forward over the whole prompt
    (use_cache=False: its chunkwise kernel over the largest multiple of chunk_size, the recurrent sequence
    kernel over the remainder), native torch kernels only (no mlstm_kernels, no autocast).
  float64 check: the same transformers modules in float64. A plain .double() model is not float64 throughout:
    its RMSNorm/LayerNorm reductions are forced to float32 (norm_reduction_force_float32), its recurrent state
    is kept in inference_state_dtype (float32) and xLSTMForCausalLM casts the logits to float32. The float64
    model therefore uses norm_reduction_force_float32=False, inference_state_dtype=float64 (set on the config
    object), force_float32_reductions=False on every norm module (out_norm is built with the default True
    whatever the config says) and logits = soft_cap(out_norm(hidden) @ lm_head^T) computed in float64 from the
    backbone. A second, independent float64 implementation (numpy, recurrent step form, xlstm-reference.md
    section 1) must agree with it to 1e-11, else the numpy one is used (meta.float64_source says which).
  greedy_new: 16 tokens, argmax of the float64 logits of the last position, recomputing the full forward
    for every new token (no cache: transformers' xLSTMCache allocates qk/v dims rounded up to multiples of 64
    and crashes on the odd-dims model), no eos stopping (configs keep HF's eos_token_id 2; first_eos_index
    says where a generator that stops on eos would stop). margins[i] = top1 - top2 float64 logit at step i.
  tied fixture: transformers 5.17's xLSTMForCausalLM ignores tie_word_embeddings (it declares no tied weights),
    so the lm_head is tied to the embedding by hand; the checkpoint has no lm_head.weight.
  bf16 fixture: the weights are stored as bf16; its reference is the float32 model holding the bf16-rounded
    weights (exact math on the rounded weights).
  fused fixture: transformers cannot initialise weight_mode "fused" models, so its weights are built by
    concatenating a single-mode model's weights (qkv_opreact = rows q|k|v|o, ifgate_preact = rows i|f,
    ffn.proj_up_gate_z = rows gate|up); its reference logits are those of the single-mode model.
"""

import argparse
import copy
import json
import math
import os
import platform
import shutil
import time
import zlib

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import xLSTMConfig, xLSTMForCausalLM
from transformers.models.xlstm import modeling_xlstm as MX

LENGTHS = [1, 15, 16, 63, 64, 65, 300]
LAST_ROWS = {300: 64}  # store only the last rows for these lengths
N_NEW = 16
SEED = 1234

BASE = dict(
    vocab_size=100, hidden_size=64, num_hidden_layers=2, num_heads=2,
    qk_dim_factor=0.5, v_dim_factor=1.0, ffn_proj_factor=2.667, ffn_round_up_to_multiple_of=64,
    gate_soft_cap=15.0, output_logit_soft_cap=30.0, norm_eps=1e-6, eps=1e-6,
    use_bias=False, weight_mode="single", tie_word_embeddings=False, add_out_norm=True,
    norm_reduction_force_float32=True, chunk_size=64,
    chunkwise_kernel="chunkwise--native_autograd", sequence_kernel="native_sequence__native", step_kernel="native",
    mode="inference", return_last_states=True, autocast_kernel_dtype="float32", inference_state_dtype="float32",
    max_inference_chunksize=16384, bos_token_id=0, eos_token_id=2, pad_token_id=1,
)

SMALL_FFN = dict(ffn_proj_factor=1.0)

# name -> (config overrides, storage, what it covers)
FIXTURES = {
    "single": ({}, "f32", "single weights, f32, 7B-like ratios (qk 0.5, v 1.0, ffn 2.667 -> 192), 2 blocks, "
               "2 heads (qk head 16, v head 32), vocab 100, chunk 64, logit cap 30"),
    "fused": (dict(SMALL_FFN), "fused", "weight_mode fused (qkv_opreact, ifgate_preact, proj_up_gate_z) built by "
              "concatenating a single-mode model's weights; reference = that single model"),
    "bias": (dict(SMALL_FFN, use_bias=True), "f32", "use_bias true: every Linear and norm has a bias"),
    "tied": (dict(SMALL_FFN, tie_word_embeddings=True), "f32", "tie_word_embeddings true: no lm_head.weight"),
    "bf16": ({}, "bf16", "weights stored as bf16; reference = f32 math on the bf16-rounded weights"),
    "sharded": (dict(SMALL_FFN), "sharded", "sharded checkpoint: several shards + model.safetensors.index.json"),
    "odd": (dict(vocab_size=97, hidden_size=60, num_heads=3, ffn_proj_factor=1.3, ffn_round_up_to_multiple_of=8),
            "f32", "3 heads, hidden 60, qk 30 (head 10), v 60 (head 20), ffn 78 -> 80, vocab 97: no dim a multiple "
            "of 64"),
    "nocap": (dict(SMALL_FFN, hidden_size=48, output_logit_soft_cap=None), "f32",
              "output_logit_soft_cap null (no cap), hidden 48"),
    "chunk16": (dict(SMALL_FFN, hidden_size=48, chunk_size=16), "f32",
                "chunk_size 16 in config (transformers' prefill uses 16-token chunks + step remainder), hidden 48"),
}


# ----------------------------------------------------------------------------------------------- helpers

def rel_err(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    den = np.max(np.abs(ref))
    return float(np.max(np.abs(a - ref)) / den) if den > 0 else float(np.max(np.abs(a - ref)))


def soft_cap(x, cap):
    return x if cap is None else cap * torch.tanh(x / cap)


def make_config(overrides):
    kw = dict(BASE)
    kw.update(overrides)
    cap = kw.pop("output_logit_soft_cap")
    cfg = xLSTMConfig(output_logit_soft_cap=30.0 if cap is None else cap, **kw)
    how = "constructor"
    if cap is None:
        try:
            cfg.output_logit_soft_cap = None
            how = "setattr"
        except Exception as e:  # strict dataclass validation
            object.__setattr__(cfg, "output_logit_soft_cap", None)
            how = "object.__setattr__ (setattr refused: %s)" % type(e).__name__
    return cfg, how


def layer_names(model):
    """Single-mode tensor names used by this transformers version (q or query, ...)."""
    keys = set(model.state_dict().keys())
    names = {}
    for short, cands in {"q": ["q", "query"], "k": ["k", "key"], "v": ["v", "value"],
                         "o": ["ogate_preact"], "i": ["igate_preact"], "f": ["fgate_preact"]}.items():
        for c in cands:
            if "backbone.blocks.0.mlstm_layer.%s.weight" % c in keys:
                names[short] = c
                break
        else:
            raise RuntimeError("cannot find the %s projection among %s" % (short, sorted(keys)))
    return names


def perturb(model, cfg, seed):
    """Moves every parameter away from transformers' init constants, deterministically."""
    g = torch.Generator().manual_seed(seed)
    D = cfg.hidden_size
    nh = cfg.num_heads
    tied = cfg.tie_word_embeddings
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            r = torch.randn(shape, generator=g, dtype=torch.float64)
            if "norm" in name:
                val = (1.0 + 0.1 * r) if name.endswith(".weight") else 0.5 * r
            elif "igate_preact" in name:
                if name.endswith(".weight"):
                    val = r * (2.0 / math.sqrt(D))
                else:  # input gate biases spread over [-4, 1]: exercises the m stabiliser and the exp(-m) floor
                    val = torch.linspace(-4.0, 1.0, nh, dtype=torch.float64) + 0.5 * r
            elif "fgate_preact" in name:
                if name.endswith(".weight"):
                    val = r * (2.0 / math.sqrt(D))
                else:  # forget gates between "forget fast" and "keep long"
                    val = torch.linspace(0.0, 4.0, nh, dtype=torch.float64) + 0.5 * r
            elif name.endswith("embeddings.weight"):
                val = r * (1.0 if not tied else 0.6)
            elif name == "lm_head.weight":
                val = r * (5.0 / math.sqrt(D))
            elif name.endswith(".bias"):
                val = 0.5 * r
            elif p.dim() == 2:
                val = r / math.sqrt(shape[1])
            else:
                raise RuntimeError("unhandled parameter %s %s" % (name, tuple(shape)))
            p.copy_(val.to(p.dtype))
    return model


def fuse_state_dict(sd, cfg, names):
    out = {}
    nb = cfg.num_hidden_layers
    consumed = set()
    for b in range(nb):
        p = "backbone.blocks.%d." % b
        for suf in ["weight", "bias"]:
            parts = [p + "mlstm_layer.%s.%s" % (names[s], suf) for s in "qkvo"]
            if all(k in sd for k in parts):
                out[p + "mlstm_layer.qkv_opreact." + suf] = torch.cat([sd[k] for k in parts], 0).contiguous()
                consumed.update(parts)
            parts = [p + "mlstm_layer.%s.%s" % (names[s], suf) for s in "if"]
            if all(k in sd for k in parts):
                out[p + "mlstm_layer.ifgate_preact." + suf] = torch.cat([sd[k] for k in parts], 0).contiguous()
                consumed.update(parts)
            parts = [p + "ffn.proj_up_gate." + suf, p + "ffn.proj_up." + suf]
            if all(k in sd for k in parts):
                out[p + "ffn.proj_up_gate_z." + suf] = torch.cat([sd[k] for k in parts], 0).contiguous()
                consumed.update(parts)
    for k, v in sd.items():
        if k not in consumed:
            out[k] = v.contiguous()
    return out


def read_checkpoint(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        sd = {}
        for shard in sorted(set(wm.values())):
            sd.update(load_file(os.path.join(d, shard)))
        return sd, sorted(set(wm.values()))
    return load_file(os.path.join(d, "model.safetensors")), ["model.safetensors"]


def manual_shards(sd, d, max_bytes):
    shards, cur, size = [], {}, 0
    for k in sorted(sd):
        nbytes = sd[k].numel() * sd[k].element_size()
        if cur and size + nbytes > max_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = sd[k]
        size += nbytes
    shards.append(cur)
    n = len(shards)
    wm = {}
    total = 0
    for i, s in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        save_file({k: v.contiguous() for k, v in s.items()}, os.path.join(d, fn), metadata={"format": "pt"})
        for k, v in s.items():
            wm[k] = fn
            total += v.numel() * v.element_size()
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2, sort_keys=True)


# ----------------------------------------------------------------------------------------------- models

def build_f64_model(model32, cfg):
    cfg64 = copy.deepcopy(cfg)
    for key, val in (("norm_reduction_force_float32", False), ("inference_state_dtype", "float64")):
        try:
            setattr(cfg64, key, val)
        except Exception:
            object.__setattr__(cfg64, key, val)
    m = xLSTMForCausalLM(cfg64)
    m.load_state_dict(model32.state_dict())
    m = m.double().eval()
    for mod in m.modules():  # out_norm is built with the default force_float32_reductions=True
        if hasattr(mod, "force_float32_reductions"):
            mod.force_float32_reductions = False
    return m


@torch.no_grad()
def logits_hf(model, ids):
    """The standard transformers forward: model(input_ids).logits (float32 model)."""
    x = torch.as_tensor(ids, dtype=torch.long)[None]
    return model(input_ids=x, use_cache=False).logits[0]


@torch.no_grad()
def logits_backbone(model, ids, cap):
    """Logits computed in the model's dtype from the backbone (used for float64)."""
    x = torch.as_tensor(ids, dtype=torch.long)[None]
    h = model.backbone(input_ids=x, use_cache=False).last_hidden_state
    w = model.lm_head.weight
    return soft_cap(h @ w.t(), cap)[0]


@torch.no_grad()
def logits_step(model, ids, cap, n_prefill=0):
    """Recurrent path: an optional chunkwise prefill of the first n_prefill tokens, then one token at a time
    through transformers' blocks (sequence length 1 -> its recurrent step kernel), the state passed by hand."""
    bb = model.backbone
    states = [None] * len(bb.blocks)
    rows = []
    x = torch.as_tensor(ids, dtype=torch.long)[None]
    spans = ([(0, n_prefill)] if n_prefill > 0 else []) + [(t, t + 1) for t in range(n_prefill, x.shape[1])]
    for a, b in spans:
        h = bb.embeddings(x[:, a:b])
        for li, blk in enumerate(bb.blocks):
            h, states[li] = blk(h, state=states[li])
        h = bb.out_norm(h)
        rows.append(soft_cap(h @ model.lm_head.weight.t(), cap)[0])
    return torch.cat(rows, 0)


def greedy(logits_fn, ids, n):
    seq = list(int(t) for t in ids)
    new, margins = [], []
    for _ in range(n):
        lg = logits_fn(seq)[-1]
        tok = int(torch.argmax(lg))
        top2 = torch.topk(lg, 2).values
        new.append(tok)
        margins.append(float(top2[0] - top2[1]))
        seq.append(tok)
    return new, margins


# ------------------------------------------------------------------------------- independent numpy float64

def np_reference(sd, cfg, names, ids):
    W = {k: v.detach().to(torch.float64).numpy() for k, v in sd.items()}
    D, NH = cfg.hidden_size, cfg.num_heads
    qk_dim, v_dim = int(D * cfg.qk_dim_factor), int(D * cfg.v_dim_factor)
    dqk, dv = qk_dim // NH, v_dim // NH
    eps_n, eps = cfg.norm_eps, cfg.eps

    def rms(x, p):
        y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps_n) * W[p + ".weight"]
        return y + W[p + ".bias"] if p + ".bias" in W else y

    def lin(x, p):
        y = x @ W[p + ".weight"].T
        return y + W[p + ".bias"] if p + ".bias" in W else y

    def cap(x, c):
        return x if c is None else c * np.tanh(x / c)

    T = len(ids)
    x = W["backbone.embeddings.weight"][np.asarray(ids)]
    for b in range(cfg.num_hidden_layers):
        p = "backbone.blocks.%d." % b
        x1 = rms(x, p + "norm_mlstm")
        L = p + "mlstm_layer."
        q = lin(x1, L + names["q"]).reshape(T, NH, dqk)
        k = lin(x1, L + names["k"]).reshape(T, NH, dqk)
        v = lin(x1, L + names["v"]).reshape(T, NH, dv)
        o = lin(x1, L + names["o"])
        ig = cap(lin(x1, L + names["i"]), cfg.gate_soft_cap)
        fg = cap(lin(x1, L + names["f"]), cfg.gate_soft_cap)
        C = np.zeros((NH, dqk, dv))
        n = np.zeros((NH, dqk))
        m = np.zeros(NH)
        H = np.zeros((T, NH, dv))
        for t in range(T):
            lf = -np.logaddexp(0.0, -fg[t])
            mn = np.maximum(lf + m, ig[t])
            fa = np.exp(lf + m - mn)
            ia = np.exp(ig[t] - mn)
            C = fa[:, None, None] * C + ia[:, None, None] * (k[t][:, :, None] * v[t][:, None, :])
            n = fa[:, None] * n + ia[:, None] * k[t]
            qs = q[t] / math.sqrt(dqk)
            num = np.einsum("hd,hde->he", qs, C)
            den = np.maximum(np.abs(np.einsum("hd,hd->h", qs, n)), np.exp(-mn)) + eps
            H[t] = num / den[:, None]
            m = mn
        mu = H.mean(-1, keepdims=True)
        var = ((H - mu) ** 2).mean(-1, keepdims=True)
        hn = ((H - mu) / np.sqrt(var + eps_n)).reshape(T, v_dim) * W[L + "multihead_norm.weight"]
        if L + "multihead_norm.bias" in W:
            hn = hn + W[L + "multihead_norm.bias"]
        x = x + lin(1.0 / (1.0 + np.exp(-o)) * hn, L + "out_proj")
        x2 = rms(x, p + "norm_ffn")
        gt = lin(x2, p + "ffn.proj_up_gate")
        up = lin(x2, p + "ffn.proj_up")
        x = x + lin(gt / (1.0 + np.exp(-gt)) * up, p + "ffn.proj_down")
    x = rms(x, "backbone.out_norm")
    head = W["lm_head.weight"] if "lm_head.weight" in W else W["backbone.embeddings.weight"]
    return cap(x @ head.T, cfg.output_logit_soft_cap)


# ----------------------------------------------------------------------------------------------- main

def build_one(name, out_root, log):
    overrides, storage, covers = FIXTURES[name]
    seed = SEED + zlib.crc32(name.encode()) % 100000
    torch.manual_seed(seed)
    cfg, cap_how = make_config(overrides)
    model = xLSTMForCausalLM(cfg).eval()
    tie_note = None
    if cfg.tie_word_embeddings and model.lm_head.weight is not model.backbone.embeddings.weight:
        # transformers 5.17's xLSTMForCausalLM declares no _tied_weights_keys: tie_word_embeddings=True leaves a
        # separate, randomly initialised lm_head (and save_pretrained still writes it). Tie it by hand.
        model.lm_head.weight = model.backbone.embeddings.weight
        tie_note = ("transformers %s does not tie xLSTM's lm_head (no _tied_weights_keys); tied by hand "
                    "(lm_head.weight = backbone.embeddings.weight) before computing anything" % transformers.__version__)
    names = layer_names(model)
    perturb(model, cfg, seed)
    if storage == "bf16":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(torch.float32))
    cap = cfg.output_logit_soft_cap
    V = cfg.vocab_size

    d = os.path.join(out_root, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    save_notes = []
    ref_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        ref_sd.pop("lm_head.weight", None)
    if storage == "fused":
        fcfg = copy.deepcopy(cfg)
        try:
            fcfg.weight_mode = "fused"
        except Exception:
            object.__setattr__(fcfg, "weight_mode", "fused")
        fcfg.save_pretrained(d)
        expect_sd = fuse_state_dict(ref_sd, cfg, names)
        save_file(expect_sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        save_notes.append("config by config.save_pretrained, weights by safetensors save_file (fused by hand)")
    else:
        smodel = model
        expect_sd = ref_sd
        kwargs = {}
        if storage == "bf16":
            smodel = copy.deepcopy(model).to(torch.bfloat16)
            expect_sd = {k: v.to(torch.bfloat16) for k, v in ref_sd.items()}
        if storage == "sharded":
            kwargs["max_shard_size"] = "100KB"
        try:
            smodel.save_pretrained(d, **kwargs)
            save_notes.append("model.save_pretrained(%s)" % ", ".join("%s=%r" % kv for kv in kwargs.items()))
        except Exception as e:
            save_notes.append("save_pretrained failed (%s: %s): config.json from to_dict, weights by hand"
                              % (type(e).__name__, e))
            shutil.rmtree(d)
            os.makedirs(d)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(json.loads(json.dumps(cfg.to_dict(), default=str)), f, indent=2, sort_keys=True)
        try:
            got_keys = set(read_checkpoint(d)[0])
        except Exception:
            got_keys = None
        sharded_ok = os.path.exists(os.path.join(d, "model.safetensors.index.json")) or storage != "sharded"
        if got_keys != set(expect_sd) or not sharded_ok:
            if got_keys is not None:
                save_notes.append("save_pretrained wrote keys %s (wanted %s): weights rewritten by hand"
                                  % (sorted(got_keys ^ set(expect_sd)), "exactly the state_dict")
                                  if got_keys != set(expect_sd) else "save_pretrained made one file: re-sharded by hand")
            for fn in os.listdir(d):
                if fn.endswith(".safetensors") or fn == "model.safetensors.index.json":
                    os.remove(os.path.join(d, fn))
            if storage == "sharded":
                manual_shards(expect_sd, d, 100 * 1000)
            else:
                save_file({k: v.contiguous() for k, v in expect_sd.items()}, os.path.join(d, "model.safetensors"),
                          metadata={"format": "pt"})
    gen = os.path.join(d, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
        save_notes.append("generation_config.json removed")

    # the files hold exactly what we meant
    got_sd, files = read_checkpoint(d)
    if set(got_sd) != set(expect_sd):
        raise RuntimeError("%s: saved keys differ: missing %s, extra %s" % (
            name, sorted(set(expect_sd) - set(got_sd)), sorted(set(got_sd) - set(expect_sd))))
    for k in expect_sd:
        if got_sd[k].dtype != expect_sd[k].dtype or not torch.equal(got_sd[k], expect_sd[k]):
            raise RuntimeError("%s: saved tensor %s differs" % (name, k))
    with open(os.path.join(d, "config.json")) as f:
        saved_cfg = json.load(f)

    sd_np = dict(ref_sd)
    if cfg.tie_word_embeddings:
        sd_np.pop("lm_head.weight", None)
    # float64 reference: transformers' modules in float64 (checked against numpy), else the numpy implementation
    f64_source = "transformers float64"
    try:
        m64 = build_f64_model(model, cfg)
        probe = np.arange(3, 3 + 20) % V
        err = rel_err(logits_backbone(m64, probe, cap).numpy(), np_reference(sd_np, cfg, names, probe))
        if not err < 1e-11:
            raise RuntimeError("transformers float64 differs from numpy float64 by %.3e" % err)
        f64_fn = lambda s: logits_backbone(m64, s, cap)
    except Exception as e:
        f64_source = "numpy float64 (transformers float64 unusable: %s: %s)" % (type(e).__name__, e)
        log("  " + f64_source)
        f64_fn = lambda s: torch.from_numpy(np_reference(sd_np, cfg, names, s))

    cases = {}
    stats = {"rel_err_f32_vs_f64": 0.0, "rel_err_numpy_f64_vs_transformers_f64": 0.0,
             "rel_err_step_vs_chunkwise_f32": 0.0, "rel_err_prefill_then_step_vs_chunkwise_f32": 0.0,
             "rel_err_backbone_f32_vs_model_logits": 0.0}
    fused_check = None
    fused_model = None
    if storage == "fused":
        try:
            saved_init = MX.xLSTMPreTrainedModel._init_weights
            MX.xLSTMPreTrainedModel._init_weights = lambda self, module: None
            try:
                fused_model = xLSTMForCausalLM(xLSTMConfig.from_pretrained(d)).eval()
            finally:
                MX.xLSTMPreTrainedModel._init_weights = saved_init
            missing, unexpected = fused_model.load_state_dict(got_sd, strict=False)
            if cfg.tie_word_embeddings:
                missing = [k for k in missing if k != "lm_head.weight"]
            if missing or unexpected:
                raise RuntimeError("missing %s unexpected %s" % (missing, unexpected))
            fused_check = 0.0
        except Exception as e:
            fused_check = "transformers could not run the fused checkpoint: %s: %s" % (type(e).__name__, e)
            fused_model = None

    for L in LENGTHS:
        rng = np.random.default_rng(seed * 1000 + L)
        ids = rng.integers(3, V, size=L, dtype=np.int64)
        l32 = logits_hf(model, ids)
        lb32 = logits_backbone(model, ids, cap)
        l64 = f64_fn(ids)
        lnp = np_reference(sd_np, cfg, names, ids)
        l32n, l64n = l32.numpy(), l64.numpy()
        try:
            lst = logits_step(model, ids, cap)
            npre = max(L - 8, 0)
            lmix = logits_step(model, ids, cap, n_prefill=npre) if npre > 0 else lst
            e_step, e_mix = rel_err(lst.numpy(), l32n), rel_err(lmix.numpy(), l32n)
        except Exception as ex:
            e_step = e_mix = float("nan")
            stats["step_path_error"] = "%s: %s" % (type(ex).__name__, ex)
        e = {
            "rel_err_f32_vs_f64": rel_err(l32n, l64n),
            "rel_err_numpy_f64_vs_transformers_f64": rel_err(lnp, l64n),
            "rel_err_step_vs_chunkwise_f32": e_step,
            "rel_err_prefill_then_step_vs_chunkwise_f32": e_mix,
            "rel_err_backbone_f32_vs_model_logits": rel_err(lb32.numpy(), l32n),
        }
        if fused_model is not None:
            fused_check = max(fused_check, rel_err(logits_hf(fused_model, ids).numpy(), l32n))
        for k, v in e.items():
            if not math.isnan(v):
                stats[k] = max(stats[k], v)
        new64, marg64 = greedy(f64_fn, ids, N_NEW)
        new32, _ = greedy(lambda s: logits_hf(model, s), ids, N_NEW)
        np.save(os.path.join(d, "ids_%d.npy" % L), ids)
        rows = LAST_ROWS.get(L)
        if rows:
            fn = "logits_%d_last%d.npy" % (L, rows)
            np.save(os.path.join(d, fn), np.ascontiguousarray(l32n[-rows:].astype(np.float32)))
        else:
            fn = "logits_%d.npy" % L
            np.save(os.path.join(d, fn), np.ascontiguousarray(l32n.astype(np.float32)))
        cases[str(L)] = {
            "ids_file": "ids_%d.npy" % L, "logits_file": fn,
            "logits_rows": ("last %d of %d" % (rows, L)) if rows else "all %d" % L,
            "greedy_new": new64, "margins": [round(x, 6) for x in marg64],
            "min_margin": round(min(marg64), 6),
            "greedy_f32_equal": new32 == new64,
            "eos_in_greedy": cfg.eos_token_id in new64,
            "first_eos_index": new64.index(cfg.eos_token_id) if cfg.eos_token_id in new64 else None,
            "rel_err_f32_vs_f64": e["rel_err_f32_vs_f64"],
            "rel_err_step_vs_chunkwise_f32": e["rel_err_step_vs_chunkwise_f32"],
        }
        log("  %-8s L=%3d  f32/f64 %.2e  np/f64 %.2e  step/chunk %.2e  mix %.2e  min margin %.3f  greedy f32==f64 %s"
            % (name, L, e["rel_err_f32_vs_f64"], e["rel_err_numpy_f64_vs_transformers_f64"],
               e["rel_err_step_vs_chunkwise_f32"], e["rel_err_prefill_then_step_vs_chunkwise_f32"],
               min(marg64), new32 == new64))

    nparams = sum(v.numel() for v in expect_sd.values())
    meta = {
        "fixture": name,
        "covers": covers,
        "transformers": transformers.__version__, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "definitions": {
            "relative_max_error": "max|ours - ref| / max|ref| over the whole logits array",
            "reference_logits": "transformers xLSTMForCausalLM(input_ids, use_cache=False).logits, float32, CPU, "
                                "torch.set_num_threads(16), deterministic algorithms, native torch kernels "
                                "(chunkwise--native_autograd / native_sequence__native / native); prefill = "
                                "chunkwise kernel over floor(L/chunk_size)*chunk_size tokens + recurrent "
                                "sequence kernel over the rest",
            "float64": "same transformers modules in float64 with norm_reduction_force_float32=False, "
                       "inference_state_dtype=float64, force_float32_reductions=False on every norm (out_norm "
                       "ignores the config flag), logits = soft_cap(backbone(ids) @ lm_head^T) in float64; "
                       "cross-checked by an independent numpy float64 step-form implementation",
            "greedy_new": "%d new tokens, argmax of float64 last-position logits, full forward recomputed per "
                          "token (no cache), no BOS inserted, no eos stopping" % N_NEW,
            "margins": "top1 - top2 float64 logit at each greedy step",
            "prompts": "ids_<L>.npy: numpy default_rng(seed*1000+L).integers(3, vocab_size), int64",
            "bf16": "bf16 fixture: reference = float32 math on the bf16-rounded weights",
            "fused": "fused fixture: weights = concatenation of a single-mode model's weights, reference logits "
                     "= that single-mode model's",
        },
        "seed": seed,
        "storage": storage,
        "weights_dtype": str(next(iter(got_sd.values())).dtype).replace("torch.", ""),
        "weight_files": files,
        "num_params": nparams,
        "save": save_notes,
        "output_logit_soft_cap_set_by": cap_how,
        "config_json": saved_cfg,
        "config_full": json.loads(json.dumps(cfg.to_dict(), default=str)),
        "tensor_names_single_mode": names,
        "float64_source": f64_source,
        "tie_note": tie_note,
        "max_over_cases": stats,
        "fused_checkpoint_in_transformers_rel_err_vs_single": fused_check,
        "cache_note": "transformers' xLSTMCache sizes the state with qk/v dims rounded up to multiples of 64; "
                      "no fixture uses it. Step path = transformers' blocks called one token at a time with the "
                      "state passed by hand; 'prefill_then_step' = chunkwise prefill of L-8 tokens then 8 steps.",
    }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"meta": meta, "cases": cases}, f, indent=1)
    size = sum(os.path.getsize(os.path.join(d, fn)) for fn in os.listdir(d))
    log("%s: %d params, %s, %d bytes, max %s" % (name, nparams, files, size, json.dumps(stats)))
    return size, stats, fused_check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/models")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(16)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    def log(s):
        print("[%6.1fs] %s" % (time.time() - t0, s), flush=True)

    log("transformers %s torch %s, external xlstm package: %s" % (
        transformers.__version__, torch.__version__, getattr(MX, "external_xlstm", "?")))
    total = 0
    summary = {}
    for name in (args.only or list(FIXTURES)):
        size, stats, fused = build_one(name, args.out, log)
        total += size
        summary[name] = {"bytes": size, **stats}
        if fused is not None:
            summary[name]["fused_in_transformers"] = fused
    log("total %d bytes" % total)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
