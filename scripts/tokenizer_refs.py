#!/usr/bin/env python3
"""Reference data for the native tokenizer, from HF tokenizers (run where `tokenizers` is installed: the GPU machine).

Why: the C++ tokenizer must give byte-identical ids to HF tokenizers. This writes, for every tokenizer named in
tests/fixtures/tokenizer/variants.json and every fixture text, the ids HF gives (with and without
add_special_tokens, and with special-token text treated as plain text), the decoded strings, decode results for
random id sequences, and a few vocabulary look-ups. Optionally it times HF encode on a large text (single thread)
and runs our own benchmark binary on the same text, so both speeds come from one machine in one call.

Usage: tokenizer_refs.py --data DIR [--out DIR] [--bench-text FILE] [--ours BIN]
       tokenizer_refs.py --pack OUT/refs.tar.gz   (writes tests/fixtures/tokenizer/expected/ from a run's output)
  --data: folder with neox/ llama3/ qwen3/ gpt4o/ (tokenizer.json + tokenizer_config.json), see tokenizer_data.sh
Writes OUT/refs.tar.gz (expected/<name>.json for each tokenizer) and OUT/bench.json.
"""
import argparse
import base64
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
MAIN = ["neox", "llama3", "qwen3", "gpt4o"]
RANDOM_FOR = MAIN + ["mini_added", "mini_lower", "mini_nfkc", "mini_split_invert", "mini_digits"]

POOL = (list(" \t\n\r") + ["  ", "\r\n", "\u00a0", "\u3000", "\u0085", "\u2028", "\u200b", "\u200d", "\ufe0f"]
        + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + ["'", "\u2019", "s", "t", "re", "ll", "ve", "'S", "'LL", "'d"]
        + list("!?.,;:-_/\\\"()[]{}<>|@#$%^&*+=~`")
        + ["\u00e9", "e\u0301", "\u00df", "\u017f", "\u212a", "\u0130", "\u0131", "\u00c5", "A\u030a", "\u0301", "\u0308"]
        + ["\u4f60", "\u597d", "\u3053", "\u30ab", "\uac00", "\u1100\u1161", "\u0645", "\u0631", "\u05e9", "\u0928",
           "\u094d", "\u0e2a", "\u0e31", "\u0663", "\u2460", "\u00bd", "\u216b", "\uff21", "\ufb01"]
        + ["\U0001F600", "\U0001F468", "\U0001F3FD", "\U0001F1FA", "\u2764"]
        + ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<|endofprompt|>",
           "<s>", "</s>", "[MASK]", "<rs>", "<a>", "<a><b>", "hello", "WORLD", "<|", "|>", "<|padding|>"])


def random_texts(n=200):
    rng = random.Random(777)
    out = []
    for k in range(n):
        m = rng.randint(1, 30)
        out.append(("random%d" % k, "".join(rng.choice(POOL) for _ in range(m)).encode("utf-8")))
    return out


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def load_json_text(name, spec, data_dir):
    if spec["base"] == "mini":
        path = os.path.join(FIX, "mini_base.json")
    else:
        path = os.path.join(data_dir, spec["base"], "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    # RFC 7386 deletes keys patched to null; tokenizer.json needs explicit nulls, so restore them.
    nulls = [k for k, v in spec["patch"].items() if v is None]
    j = merge_patch(j, spec["patch"])
    for k in nulls:
        j[k] = None
    return json.dumps(j, ensure_ascii=False)


def texts():
    with open(os.path.join(FIX, "texts", "edge.json"), encoding="utf-8") as f:
        edge = json.load(f)
    out = []
    for e in edge:
        b = bytes.fromhex(e["hex"]) if "hex" in e else e["text"].encode("utf-8", "surrogatepass")
        out.append((e["name"], b))
    big = []
    for n in ["kjv", "code"]:
        with open(os.path.join(FIX, "texts", n + ".txt"), "rb") as f:
            big.append((n, f.read()))
    return out, big


def fnv1a(ids):
    h = 0xcbf29ce484222325
    for i in ids:
        for b in (i & 0xffffffff).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def fnv1a_bytes(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def reference(name, tk, edge, big):
    rec = {"name": name, "vocab_size": tk.get_vocab_size(with_added_tokens=True),
           "model_vocab_size": tk.get_vocab_size(with_added_tokens=False), "cases": [], "decode_cases": []}
    items = edge + (big if name in MAIN or name == "mini" else [])
    if name in RANDOM_FOR:
        items = items + random_texts()
    for tname, b in items:
        s = b.decode("utf-8", "replace")
        case = {"name": tname}
        if tname.startswith("random"):
            case["text"] = s
        try:
            tk.encode_special_tokens = False
            e1 = tk.encode(s).ids
            e2 = tk.encode(s, add_special_tokens=False).ids
            tk.encode_special_tokens = True
            e3 = tk.encode(s).ids
            tk.encode_special_tokens = False
            case["ids"] = e1
            if e2 != e1:
                case["ids_no_special"] = e2
            if e3 != e1:
                case["ids_plain_special"] = e3
            d1 = tk.decode(e1, skip_special_tokens=False)
            d2 = tk.decode(e1, skip_special_tokens=True)
            d3 = tk.decode(e2, skip_special_tokens=False)
            if tname in ("kjv", "code"):
                case["decoded_equals_input"] = d1 == s
                case["decoded_no_special_equals_input"] = d3 == s
                if d1 != s:
                    case["decoded"] = d1
                if d3 != s:
                    case["decoded_no_special"] = d3
            else:
                case["decoded"] = d1
                if d3 != d1:
                    case["decoded_no_special"] = d3
            if d2 != d1:
                case["decoded_skip"] = d2
        except Exception as ex:  # recorded, so the C++ side can expect an error too
            case["error"] = repr(ex)
        rec["cases"].append(case)
    vocab = tk.get_vocab(with_added_tokens=True)
    ids_sorted = sorted(set(vocab.values()))
    rng = random.Random(20240601 + len(name))
    b2u = bytes_to_unicode()
    byte_ids = [vocab[b2u[b]] for b in range(256) if b2u[b] in vocab]
    seqs = []
    for k in range(40):
        n = rng.randint(1, 12)
        if k % 2 == 0 or len(byte_ids) < 256:
            seqs.append([rng.choice(ids_sorted) for _ in range(n)])
        else:  # random bytes: mostly multi-byte UTF-8 fragments
            seqs.append([byte_ids[rng.choice([rng.randint(0x80, 0xff), rng.randint(0xc0, 0xf7), rng.randint(0x20, 0x7e)])]
                         for _ in range(n)])
    added = sorted(t for t in tk.get_added_tokens_decoder().keys())
    if added:
        seqs.append(added[:50])
        seqs.append([ids_sorted[len(ids_sorted) // 2]] + added[:3] + [ids_sorted[7]])
    for ids in seqs:
        rec["decode_cases"].append({"ids": ids, "text": tk.decode(ids, skip_special_tokens=False),
                                    "text_skip": tk.decode(ids, skip_special_tokens=True)})
    probe_ids = sorted(set([0, 1, 255, 256, ids_sorted[-1]] + [rng.choice(ids_sorted) for _ in range(20)] + added[:20]))
    rec["id_to_token"] = {str(i): tk.id_to_token(i) for i in probe_ids}
    probe_toks = ["hello", "Hello", "\u0120the", "<|endoftext|>", "<s>", "nonexistent-token-xyz", "a", "\u0120"]
    probe_toks += [tk.id_to_token(i) for i in probe_ids if tk.id_to_token(i) is not None]
    probe_toks += [v.content for v in tk.get_added_tokens_decoder().values()]
    rec["token_to_id"] = {t: tk.token_to_id(t) for t in probe_toks}
    rec["added_tokens"] = {str(k): {"content": v.content, "special": v.special}
                           for k, v in sorted(tk.get_added_tokens_decoder().items())}
    return rec


def transformers_info(data_dir):
    out = {}
    try:
        import transformers
        from transformers import AutoTokenizer
        out["transformers_version"] = transformers.__version__
    except Exception as ex:
        return {"error": repr(ex)}
    for n in ["neox", "llama3", "qwen3", "gpt4o"]:
        try:
            t = AutoTokenizer.from_pretrained(os.path.join(data_dir, n))
            out[n] = {"bos_token_id": t.bos_token_id, "eos_token_id": t.eos_token_id,
                      "has_chat_template": bool(getattr(t, "chat_template", None)),
                      "encode_hello": t.encode("Hello world"), "len": len(t)}
        except Exception as ex:
            out[n] = {"error": repr(ex)}
    return out


def bench_hf(tk, text, reps):
    lines = text.splitlines(keepends=True)
    nbytes = len(text.encode("utf-8"))
    tk.encode(text[:100000])
    best_whole, best_lines, ids = 1e9, 1e9, None
    for _ in range(reps):
        t0 = time.perf_counter()
        ids = tk.encode(text, add_special_tokens=False).ids
        best_whole = min(best_whole, time.perf_counter() - t0)
        t0 = time.perf_counter()
        tk.encode_batch(lines, add_special_tokens=False)
        best_lines = min(best_lines, time.perf_counter() - t0)
    return {"bytes": nbytes, "n_ids": len(ids), "fnv1a": fnv1a(ids),
            "whole_s": best_whole, "whole_MBps": nbytes / best_whole / 1e6,
            "lines_s": best_lines, "lines_MBps": nbytes / best_lines / 1e6}


def pack_ids(ids):
    """Long id lists become base64 of LEB128 varints (tests/unit/test_tokenizer.cpp unpacks them)."""
    if len(ids) <= 64:
        return ids
    out = bytearray()
    for v in ids:
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                break
    return "b64:" + base64.b64encode(bytes(out)).decode("ascii")


DECODE_CASES_FOR = ["mini", "mini_added", "mini_byte_fallback", "mini_decoder_none", "mini_whitespace_unk",
                    "mini_char_drop", "mini_metaspace_legacy", "mini_wssplit_fuse", "mini_prefix_template"]
LONG = ("long_a", "long_word_mix", "long_x", "long_bang", "long_emoji", "long_spaces", "long_newlines")


def pack(raw_tar, dest):
    """Writes the committed fixtures (tests/fixtures/tokenizer/expected) from a refs.tar.gz, keeping them small:
    long id lists packed, decoded texts equal to the input stored as true, the long texts only for the real
    tokenizers and "mini", and cases identical to the "mini" tokenizer's stored as a reference to them."""
    os.makedirs(dest, exist_ok=True)
    edge, big = texts()
    inputs = {n: b.decode("utf-8", "replace") for n, b in edge + big}
    with tarfile.open(raw_tar) as tar:
        recs = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]
    mini = {c["name"]: c for r in recs if r["name"] == "mini" for c in r["cases"]}
    for rec in recs:
        name = rec["name"]
        if "cases" in rec:
            cases = rec["cases"]
            if name not in MAIN:
                cases = [c for c in cases if c["name"] not in ("kjv", "code")]
            if name not in MAIN and name != "mini":
                cases = [c for c in cases if c["name"] not in LONG]
            keep_random = 80 if name in MAIN or name == "mini_added" else 0
            cases = [c for c in cases if not c["name"].startswith("random") or int(c["name"][6:]) < keep_random]
            if name != "mini" and name not in MAIN:
                cases = [{"name": c["name"], "same_as_mini": True} if mini.get(c["name"]) == c else c for c in cases]
            for c in cases:
                src = c.get("text", inputs.get(c["name"]))
                if c["name"] in ("kjv", "code"):
                    if isinstance(c.get("decoded_skip"), str):
                        c["decoded_skip_fnv1a"] = fnv1a_bytes(c.pop("decoded_skip").encode("utf-8"))
                    if "ids_plain_special" in c:
                        x = c.pop("ids_plain_special")
                        c["ids_plain_special_fnv1a"] = [len(x), fnv1a(x)]
                for k in ("decoded", "decoded_skip", "decoded_no_special"):
                    if k in c and c[k] == src:
                        c[k] = True
                for k in ("ids", "ids_no_special", "ids_plain_special"):
                    if k in c:
                        c[k] = pack_ids(c[k])
            rec["cases"] = cases
            # Random-id decodes only where the decoder or the added tokens differ from "mini"'s.
            if name not in MAIN + DECODE_CASES_FOR:
                rec["decode_cases"] = []
            for d in rec["decode_cases"]:
                if d.get("text_skip") == d.get("text"):
                    d.pop("text_skip")
        with open(os.path.join(dest, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--pack":
        pack(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else os.path.join(FIX, "expected"))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--bench-text")
    ap.add_argument("--ours")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-refs", action="store_true")
    args = ap.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import tokenizers
    from tokenizers import Tokenizer
    print("tokenizers", tokenizers.__version__, flush=True)
    with open(os.path.join(FIX, "variants.json"), encoding="utf-8") as f:
        variants = json.load(f)
    variants.pop("_doc", None)
    edge, big = texts()
    exp_dir = os.path.join(tempfile.mkdtemp(), "expected")
    os.makedirs(exp_dir)
    os.makedirs(args.out, exist_ok=True)
    loaded = {}
    for name, spec in variants.items():
        t0 = time.time()
        try:
            tk = Tokenizer.from_str(load_json_text(name, spec, args.data))
        except Exception as ex:
            rec = {"name": name, "load_error": repr(ex)}
            tk = None
        if tk is not None:
            loaded[name] = tk
            if args.no_refs:
                continue
            rec = reference(name, tk, edge, big)
        rec["tokenizers_version"] = tokenizers.__version__
        with open(os.path.join(exp_dir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False, separators=(",", ":"))
        print(f"{name}: {time.time() - t0:.1f}s {rec.get('load_error', '')}", flush=True)
    bench = {"tokenizers_version": tokenizers.__version__}
    if not args.no_refs:
        bench["transformers"] = transformers_info(args.data)
    if args.bench_text:
        with open(args.bench_text, encoding="utf-8") as f:
            text = f.read()
        for n in ["neox", "llama3", "qwen3", "gpt4o"]:
            r = {"hf": bench_hf(loaded[n], text, args.reps)}
            if args.ours:
                cmd = [args.ours, os.path.join(args.data, n, "tokenizer.json"), args.bench_text, str(args.reps)]
                p = subprocess.run(cmd, capture_output=True, text=True)
                r["ours_cmd"] = " ".join(cmd)
                r["ours"] = json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr[-2000:]}
            bench[n] = r
            print(n, json.dumps(r), flush=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(bench, f, indent=1)
    if not args.no_refs:
        with tarfile.open(os.path.join(args.out, "refs.tar.gz"), "w:gz") as tar:
            tar.add(exp_dir, arcname="expected")


if __name__ == "__main__":
    main()
