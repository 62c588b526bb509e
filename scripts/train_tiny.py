#!/usr/bin/env python3
"""Train xlstm-kjv-tiny: a small xLSTM of the 7B family (HF xLSTMForCausalLM) on the King James Bible.

Run on the GPU machine (transformers 5.17, torch 2.11, tokenizers 0.23), from the repository root:

    bible "Gen1:1-Rev22:21" > .data/kjv.txt          # Debian package bible-kjv (done on the dev machine)
    PYTHONUNBUFFERED=1 python3 scripts/train_tiny.py --kjv .data/kjv.txt

The defaults are the settings of the shipped model (dropout 0.3, 1163 steps of 32 x 1024 tokens, chosen among
three settings by validation loss; see the model card). With --steps 0 --budget-seconds S it times 20 steps and
fills S seconds instead (it prints the step count to pass as --steps to reproduce).

Everything derives from --seed. Steps:
  1. Split (scripts/kjv_split.py, stdlib only): chapter k (1-based, canonical order) is held out iff k % 20 == 0.
     Inside the training split, chapters with k % 20 == 10 are a validation set used only to keep the best
     checkpoint (the held-out split is touched only for the final numbers).
  2. Tokenizer: byte-level BPE in GPT-NeoX style (NFC normaliser, ByteLevel pre-tokenizer without prefix space,
     ByteLevel post-processor and decoder), trained with HF tokenizers on the training split (train + validation
     chapters); vocabulary 4096 with <|endoftext|> = 0 (bos, eos, unk) and <|padding|> = 1 (pad).
  3. Model: xLSTMForCausalLM (7B-family schema, untied head, soft caps 15/30, native torch kernels), trained with
     AdamW in bf16 autocast on random windows: [bos] + T-1 tokens of the training stream starting at a line
     (verse) start; residual and embedding dropout through forward hooks (the architecture has none).
  4. Writes --out (HF layout: config.json, model.safetensors in bf16, tokenizer.json, tokenizer_config.json,
     generation_config.json, README.md) and --fixtures (expected.json, heldout_ids.npy), all computed from the
     saved bf16 weights upcast to float32 with float32 math:
       greedy: 32 new tokens for each prompt, prompt ids = [bos] + encode(prompt), full forward recomputed per
               token (no cache), on the CPU;
       held-out slice: ids = first 4096 tokens of [bos] + encode(heldout_text); perplexity =
               exp(mean over t = 1..N-1 of -log p(ids[t] | ids[:t])), one forward on the CPU;
       held-out full: the same over the whole held-out split as ONE sequence (about 50k tokens), run in segments
               of 8192 tokens with the recurrent state (C, n, m per block) passed from segment to segment.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kjv_split  # noqa: E402

T0 = time.time()


def log(s):
    print("[%7.1fs] %s" % (time.time() - T0, s), flush=True)


PROMPTS = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the"]
SAMPLE_PROMPTS = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the", "And it came to pass",
                  "The LORD is my shepherd;", "Then Jesus said unto them,", "For God so loved the world,",
                  "And David said", "Hear, O Israel:", "And I saw"]


# ----------------------------------------------------------------------------------------------- tokenizer

def train_tokenizer(text, vocab_size):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # one "sentence" per line keeps the trainer's input order (and so its result) fixed
    tok.train_from_iterator([line + "\n" for line in text.split("\n")], trainer=trainer)
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|padding|>") == 1
    return tok


def encode(tok, text):
    # encode_batch over lines would be faster but must give the same ids; plain encode is the definition
    return np.asarray(tok.encode(text).ids, dtype=np.int64)


# ----------------------------------------------------------------------------------------------- model

def make_config(args, vocab_size):
    from transformers import xLSTMConfig
    return xLSTMConfig(
        vocab_size=vocab_size, hidden_size=args.hidden, num_hidden_layers=args.blocks, num_heads=args.heads,
        qk_dim_factor=0.5, v_dim_factor=1.0, ffn_proj_factor=2.667, ffn_round_up_to_multiple_of=64,
        gate_soft_cap=15.0, output_logit_soft_cap=30.0, norm_eps=1e-6, eps=1e-6, use_bias=False,
        weight_mode="single", tie_word_embeddings=False, add_out_norm=True, norm_reduction_force_float32=True,
        chunk_size=64, chunkwise_kernel="chunkwise--native_autograd", sequence_kernel="native_sequence__native",
        step_kernel="native", mode="inference", return_last_states=True, autocast_kernel_dtype="bfloat16",
        inference_state_dtype="float32", max_inference_chunksize=16384,
        bos_token_id=0, eos_token_id=0, pad_token_id=1, force_bos_token_insert=True,
    )


def soft_cap(x, cap):
    return x if cap is None else cap * torch.tanh(x / cap)


@torch.no_grad()
def forward_spans(model, ids, spans, states=None):
    """Logits (float32 model: float32) for ids[a:b] for each (a, b) in spans, passing the recurrent state of
    every block from span to span; transformers' own blocks do the work."""
    bb = model.backbone
    dev = next(model.parameters()).device
    x = torch.as_tensor(ids, dtype=torch.long, device=dev)[None]
    outs = []
    if isinstance(states, dict):  # fallback path: transformers' own cache object
        return forward_spans_cache(model, x, spans, states["cache"])
    if states is None:
        states = [None] * len(bb.blocks)
    try:
        for a, b in spans:
            h = bb.embeddings(x[:, a:b])
            for li, blk in enumerate(bb.blocks):
                h, states[li] = blk(h, state=states[li])
            h = bb.out_norm(h)
            outs.append(soft_cap(h @ model.lm_head.weight.t(), model.config.output_logit_soft_cap)[0])
        return outs, states
    except TypeError as e:
        if any(s is not None for s in states) and outs:
            raise
        log("block-level call failed (%s); using transformers' xLSTMCache instead" % e)
        return forward_spans_cache(model, x, spans, None)


@torch.no_grad()
def forward_spans_cache(model, x, spans, cache):
    outs = []
    for a, b in spans:
        out = model(input_ids=x[:, a:b], cache_params=cache, use_cache=True)
        cache = out.cache_params
        outs.append(out.logits[0].float())
    return outs, {"cache": cache}


def nll_sum(logits, targets):
    lp = torch.log_softmax(logits.double(), dim=-1)
    return float(-lp.gather(1, targets[:, None]).sum())


@torch.no_grad()
def perplexity(model, ids, seg):
    """exp(mean NLL of ids[1:] given their prefix); one sequence, segments of `seg` tokens, state carried."""
    n = len(ids)
    spans = [(a, min(a + seg, n - 1)) for a in range(0, n - 1, seg)]
    outs, _ = forward_spans(model, ids[:-1], spans)
    dev = outs[0].device
    tot = 0.0
    for (a, b), lg in zip(spans, outs):
        tot += nll_sum(lg, torch.as_tensor(ids[a + 1:b + 1], device=dev))
    mean = tot / (n - 1)
    return math.exp(mean), mean


@torch.no_grad()
def greedy_nocache(model, prompt, n):
    seq = list(int(t) for t in prompt)
    new, margins = [], []
    for _ in range(n):
        lg = model(input_ids=torch.as_tensor(seq, dtype=torch.long)[None], use_cache=False).logits[0, -1]
        tok = int(torch.argmax(lg))
        top2 = torch.topk(lg.double(), 2).values
        new.append(tok)
        margins.append(float(top2[0] - top2[1]))
        seq.append(tok)
    return new, margins


@torch.no_grad()
def sample(model, prompt, n, temp, gen):
    outs, states = forward_spans(model, prompt, [(0, len(prompt))])
    lg = outs[0][-1]
    new = []
    for _ in range(n):
        probs = torch.softmax(lg.double().cpu() / temp, dim=-1)
        tok = int(torch.multinomial(probs, 1, generator=gen))
        new.append(tok)
        outs, states = forward_spans(model, [tok], [(0, 1)], states)
        lg = outs[0][-1]
    return new


def f32_model_from_dir(out_dir, cfg):
    """The saved bf16 weights upcast to float32 in a float32 model (what the C++ engine computes)."""
    from safetensors.torch import load_file
    from transformers import xLSTMForCausalLM
    sd = {k: v.to(torch.float32) for k, v in load_file(os.path.join(out_dir, "model.safetensors")).items()}
    m = xLSTMForCausalLM(cfg)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise RuntimeError("loading saved weights: missing %s unexpected %s" % (missing, unexpected))
    return m.float().eval()


# ----------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kjv", default=".data/kjv.txt")
    ap.add_argument("--out", default="models/xlstm-kjv-tiny")
    ap.add_argument("--fixtures", default="tests/fixtures/kjv_tiny")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--steps", type=int, default=1163, help="optimizer steps (0: pick from --budget-seconds)")
    ap.add_argument("--budget-seconds", type=float, default=0,
                    help="if --steps is 0: time 20 steps, then pick steps to fill this budget (prints the number)")
    ap.add_argument("--max-seconds", type=float, default=480, help="safety stop for the training loop")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--n-samples", type=int, default=10)
    args = ap.parse_args()

    import tokenizers
    import transformers
    from transformers import xLSTMForCausalLM

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("transformers %s torch %s tokenizers %s device %s" % (transformers.__version__, torch.__version__,
                                                              tokenizers.__version__,
                                                              torch.cuda.get_device_name() if dev.type == "cuda"
                                                              else "cpu"))

    # 1. split
    raw = open(args.kjv, "rb").read()
    kjv_sha = hashlib.sha256(raw).hexdigest()
    chapters = kjv_split.parse_chapters(raw.decode("utf-8"))
    train_text, held_text, held_names = kjv_split.split_texts(chapters)
    tr_ch, va_ch = [], []
    for k, (_, _, verses) in enumerate(chapters, start=1):
        if kjv_split.is_heldout(k):
            continue
        (va_ch if k % 20 == 10 else tr_ch).append(kjv_split.chapter_text(verses))
    fit_text, val_text = "\n".join(tr_ch), "\n".join(va_ch)
    log("kjv sha256 %s: %d chapters; train %d chars (fit %d + val %d), held-out %d chapters %d chars"
        % (kjv_sha[:16], len(chapters), len(train_text), len(fit_text), len(val_text), len(held_names),
           len(held_text)))

    # 2. tokenizer
    tok = train_tokenizer(train_text, args.vocab)
    V = tok.get_vocab_size()
    fit_ids = encode(tok, fit_text)
    val_ids = encode(tok, val_text)
    held_ids = np.concatenate([[0], encode(tok, held_text)]).astype(np.int64)
    log("tokenizer: vocab %d; tokens: fit %d, val %d, held-out %d (+bos); chars/token %.2f"
        % (V, len(fit_ids), len(val_ids), len(held_ids) - 1, len(fit_text) / len(fit_ids)))
    nl = np.array(["\n" in tok.decode([i]) for i in range(V)])
    starts = np.nonzero(nl[fit_ids[:-1]])[0] + 1
    starts = np.concatenate([[0], starts])
    T = args.seq
    starts = starts[starts + T <= len(fit_ids)]
    vstarts = np.concatenate([[0], np.nonzero(nl[val_ids[:-1]])[0] + 1])
    vstarts = vstarts[vstarts + T <= len(val_ids)]
    vrng = np.random.default_rng(args.seed + 1)
    vsel = np.sort(vrng.choice(vstarts, size=min(64, len(vstarts)), replace=False))

    def windows(sel, src):
        x = np.empty((len(sel), T), dtype=np.int64)
        x[:, 0] = 0
        y = np.empty((len(sel), T), dtype=np.int64)
        for j, s in enumerate(sel):
            x[j, 1:] = src[s:s + T - 1]
            y[j] = src[s:s + T]
        return torch.from_numpy(x), torch.from_numpy(y)

    vx, vy = windows(vsel, val_ids)

    # 3. model
    cfg = make_config(args, V)
    model = xLSTMForCausalLM(cfg).to(dev)
    nparams = sum(p.numel() for p in model.parameters())
    log("model: hidden %d blocks %d heads %d qk %d v %d ffn %s -> %d params"
        % (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_heads, int(cfg.hidden_size * cfg.qk_dim_factor),
           int(cfg.hidden_size * cfg.v_dim_factor), tuple(model.backbone.blocks[0].ffn.proj_down.weight.shape),
           nparams))
    p_drop = args.dropout
    model.backbone.embeddings.register_forward_hook(lambda m, i, o: F.dropout(o, p_drop, m.training))
    for blk in model.backbone.blocks:
        blk.mlstm_layer.register_forward_hook(lambda m, i, o: (F.dropout(o[0], p_drop, m.training), o[1]))
        blk.ffn.register_forward_hook(lambda m, i, o: F.dropout(o, p_drop, m.training))
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() == 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=dev.type == "cuda")
    rng = np.random.default_rng(args.seed)

    def lr_at(step, total):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        frac = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))

    @torch.no_grad()
    def val_loss():
        model.eval()
        tot, cnt = 0.0, 0
        for j in range(0, len(vx), 16):
            xb, yb = vx[j:j + 16].to(dev), vy[j:j + 16].to(dev)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                lg = model(input_ids=xb, use_cache=False).logits
            tot += float(F.cross_entropy(lg.float().reshape(-1, V), yb.reshape(-1), reduction="sum"))
            cnt += yb.numel()
        model.train()
        return tot / cnt

    total_steps = args.steps if args.steps > 0 else 10 ** 9
    model.train()
    best = (float("inf"), -1, None)
    t_train = time.time()
    step = 0
    stopped_early = False
    tokens_seen = 0
    t_step5 = time.time()
    while step < total_steps:
        if args.steps == 0 and step == 25 and args.budget_seconds > 0:
            torch.cuda.synchronize() if dev.type == "cuda" else None
            per = (time.time() - t_step5) / 20
            total_steps = max(step + 1, int(args.budget_seconds / per))
            log("calibration: %.1f ms/step -> %d steps for %.0f s (reproduce with --steps %d)"
                % (per * 1000, total_steps, args.budget_seconds, total_steps))
        if step == 5:
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t_step5 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total_steps if total_steps < 10 ** 9 else 10 ** 6)
        xb, yb = windows(rng.choice(starts, size=args.batch), fit_ids)
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            lg = model(input_ids=xb, use_cache=False).logits
        loss = F.cross_entropy(lg.float().reshape(-1, V), yb.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += xb.numel()
        last = step == total_steps
        if step % args.eval_every == 0 or last:
            vl = val_loss()
            if vl < best[0]:
                best = (vl, step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
            log("step %5d/%s  loss %.4f  val %.4f (ppl %.2f)  gnorm %.2f  lr %.2e  epochs %.1f  %.0f s"
                % (step, total_steps if total_steps < 10 ** 9 else "?", loss.item(), vl, math.exp(vl), gn.item(),
                   opt.param_groups[0]["lr"], tokens_seen / len(fit_ids), time.time() - t_train))
        elif step % 50 == 0:
            log("step %5d  loss %.4f  gnorm %.2f  lr %.2e" % (step, loss.item(), gn.item(), opt.param_groups[0]["lr"]))
        if time.time() - t_train > args.max_seconds and not last:
            stopped_early = True
            vl = val_loss()
            if vl < best[0]:
                best = (vl, step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
            log("SAFETY STOP at step %d (max-seconds %.0f): val %.4f" % (step, args.max_seconds, vl))
            break
    train_seconds = time.time() - t_train
    log("training done: %d steps, %.1f s, %.2f epochs; best val %.4f (ppl %.2f) at step %d"
        % (step, train_seconds, tokens_seen / len(fit_ids), best[0], math.exp(best[0]), best[1]))

    # 4. save
    os.makedirs(args.out, exist_ok=True)
    for fn in os.listdir(args.out):
        os.remove(os.path.join(args.out, fn))
    save_model = xLSTMForCausalLM(cfg)
    save_model.load_state_dict(best[2])
    save_model = save_model.to(torch.bfloat16)
    save_model.save_pretrained(args.out)
    for fn in ("generation_config.json",):
        p = os.path.join(args.out, fn)
        if os.path.exists(p):
            os.remove(p)
    with open(os.path.join(args.out, "config.json")) as f:
        cj = json.load(f)
    cj.update({"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1, "force_bos_token_insert": True})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cj, f, indent=2, sort_keys=True)
        f.write("\n")
    tok.save(os.path.join(args.out, "tokenizer.json"))
    special = {"content": None, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
               "special": True}
    tcfg = {
        "add_bos_token": True, "add_eos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {"0": dict(special, content="<|endoftext|>"),
                                 "1": dict(special, content="<|padding|>")},
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|padding|>", "clean_up_tokenization_spaces": False, "model_max_length": 1000000000,
        "tokenizer_class": "GPTNeoXTokenizer",
    }
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2)
        f.write("\n")
    gcfg = {"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1, "do_sample": True, "temperature": 0.8,
            "top_k": 0, "top_p": 1.0, "max_new_tokens": 128}
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(gcfg, f, indent=2)
        f.write("\n")
    log("saved %s: %s" % (args.out, {fn: os.path.getsize(os.path.join(args.out, fn))
                                      for fn in sorted(os.listdir(args.out))}))

    # 5. reference numbers from the saved bf16 weights, upcast to float32
    torch.set_num_threads(16)
    m32 = f32_model_from_dir(args.out, cfg)
    with torch.no_grad():
        for k, v in m32.state_dict().items():
            if not torch.equal(v, best[2][k].to(torch.bfloat16).to(torch.float32)):
                raise RuntimeError("saved weight %s does not round-trip" % k)
    checks = {}
    try:
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(args.out)
        checks["AutoTokenizer_class"] = type(at).__name__
        checks["AutoTokenizer_ids_In_the_beginning"] = at("In the beginning")["input_ids"]
    except Exception as e:
        checks["AutoTokenizer"] = "failed: %s: %s" % (type(e).__name__, e)
    try:
        hf = xLSTMForCausalLM.from_pretrained(args.out, dtype=torch.float32)
        same = all(torch.equal(v, m32.state_dict()[k]) for k, v in hf.state_dict().items())
        checks["from_pretrained_float32_equals_upcast"] = bool(same)
    except Exception as e:
        checks["from_pretrained"] = "failed: %s: %s" % (type(e).__name__, e)

    os.makedirs(args.fixtures, exist_ok=True)
    slice_ids = held_ids[:4096].copy()
    np.save(os.path.join(args.fixtures, "heldout_ids.npy"), slice_ids)
    ppl_slice, nll_slice = perplexity(m32, slice_ids, seg=len(slice_ids))
    log("held-out slice (first %d tokens of [bos]+encode(heldout)): ppl %.4f (mean nll %.6f), CPU float32"
        % (len(slice_ids), ppl_slice, nll_slice))
    prompts = []
    for ptxt in PROMPTS:
        pids = [0] + tok.encode(ptxt).ids
        new, margins = greedy_nocache(m32, pids, 32)
        prompts.append({"prompt": ptxt, "prompt_ids": pids, "greedy_new": new,
                        "margins": [round(x, 6) for x in margins], "min_margin": round(min(margins), 6),
                        "text": tok.decode(new)})
        log("greedy %r -> %r (min margin %.3f)" % (ptxt, tok.decode(new), min(margins)))

    mg = copy.deepcopy(m32).to(dev)
    ppl_slice_gpu, _ = perplexity(mg, slice_ids, seg=len(slice_ids))
    t_full = time.time()
    ppl_full, nll_full = perplexity(mg, held_ids, seg=8192)
    log("held-out full (%d tokens, one sequence, 8192-token segments with state carried): ppl %.4f; GPU slice "
        "check %.4f (%.1f s)" % (len(held_ids), ppl_full, ppl_slice_gpu, time.time() - t_full))
    try:
        cache_eq = []
        for pr in prompts:
            out = mg.generate(torch.tensor([pr["prompt_ids"]], device=dev), max_new_tokens=32, min_new_tokens=32,
                              do_sample=False, use_cache=True, pad_token_id=1)
            cache_eq.append(out[0, len(pr["prompt_ids"]):].tolist() == pr["greedy_new"])
        checks["generate_with_cache_gpu_equals_nocache_cpu_greedy"] = cache_eq
    except Exception as e:
        checks["generate_with_cache"] = "failed: %s: %s" % (type(e).__name__, e)
    log("checks: %s" % json.dumps(checks))

    gen = torch.Generator().manual_seed(args.seed)
    samples = []
    for j in range(args.n_samples):
        ptxt = SAMPLE_PROMPTS[j % len(SAMPLE_PROMPTS)]
        pids = [0] + tok.encode(ptxt).ids
        new = sample(mg, pids, 64, 0.8, gen)
        samples.append({"prompt": ptxt, "text": ptxt + tok.decode(new)})
        log("sample %d (T=0.8): %r" % (j, ptxt + tok.decode(new)))

    expected = {
        "meta": {
            "transformers": transformers.__version__, "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "weights": "models/xlstm-kjv-tiny/model.safetensors (bf16), upcast to float32; float32 math on CPU",
            "greedy": "32 new tokens, argmax, prompt ids = [bos=0] + encode(prompt) (tokenizer.json, no post "
                      "processor tokens), full forward recomputed per token (use_cache=False), no eos stopping; "
                      "margins = top1 - top2 logit (float32 logits) per step",
            "heldout_slice": "heldout_ids.npy = first 4096 ids of [bos] + encode(heldout_text), heldout_text = "
                             "scripts/kjv_split.py's held-out split (chapters k % 20 == 0, listed in heldout_chapters); perplexity = "
                             "exp(mean_{t=1..N-1} -log softmax(logits[t-1])[ids[t]]), one forward, log-softmax "
                             "in float64 from float32 logits",
            "kjv_sha256": kjv_sha, "kjv_source": 'Debian bible-kjv: bible "Gen1:1-Rev22:21"',
            "heldout_chapters": held_names, "checks": checks,
        },
        "prompts": prompts,
        "heldout_slice": {"file": "heldout_ids.npy", "n_tokens": int(len(slice_ids)), "perplexity": ppl_slice,
                          "mean_nll": nll_slice, "perplexity_gpu_float32": ppl_slice_gpu},
        "heldout_full": {"n_tokens": int(len(held_ids)), "perplexity": ppl_full, "mean_nll": nll_full,
                         "how": "whole held-out split as one sequence [bos] + encode(heldout_text), GPU float32 "
                                "(TF32 off), segments of 8192 tokens with the recurrent state carried"},
    }
    with open(os.path.join(args.fixtures, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    summary = {
        "params": nparams, "config": {k: cj[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                          "num_heads", "qk_dim_factor", "v_dim_factor",
                                                          "ffn_proj_factor", "chunk_size")},
        "args": vars(args), "steps": step, "stopped_early": stopped_early, "train_seconds": round(train_seconds, 1),
        "epochs": round(tokens_seen / len(fit_ids), 2), "best_val_step": best[1], "best_val_nll": best[0],
        "tokens": {"fit": int(len(fit_ids)), "val": int(len(val_ids)), "heldout": int(len(held_ids))},
        "ppl_slice": ppl_slice, "ppl_full": ppl_full, "samples": samples,
        "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "total_seconds": round(time.time() - T0, 1),
    }
    with open(os.path.join(args.fixtures, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    log("done: %s" % json.dumps({k: v for k, v in summary.items() if k != "samples"}))


if __name__ == "__main__":
    main()
