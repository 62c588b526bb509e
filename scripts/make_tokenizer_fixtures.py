#!/usr/bin/env python3
"""Generate the small, committed tokenizer fixtures (standard library only; run once, outputs are committed).

Why: the tests need (1) texts: a KJV sample, a source-code sample and a hand-written edge-case list, and (2) small
synthetic tokenizers that exercise every supported tokenizer.json component. The synthetic ones share one mini
byte-level BPE (GPT-2's alphabet + its first merges) and differ by a JSON merge patch (RFC 7386) each, so they stay
tiny. Expected ids for all of them come from HF tokenizers via scripts/tokenizer_refs.py on the GPU machine.

Usage: make_tokenizer_fixtures.py GPT2_DIR KJV_TXT [--force]   (GPT2_DIR holds encoder.json and vocab.bpe; the
texts are only written when absent, or with --force)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIX = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
N_MERGES = 1500


def mini_base(gpt2_dir):
    with open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    with open(os.path.join(gpt2_dir, "vocab.bpe"), encoding="utf-8") as f:
        merges = [l for l in f.read().split("\n")[1:] if l.strip()][:N_MERGES]
    by_id = sorted(enc.items(), key=lambda kv: kv[1])
    vocab = {tok: i for tok, i in by_id[:256]}
    for m in merges:
        a, b = m.split(" ")
        assert a in vocab and b in vocab, m
        vocab.setdefault(a + b, len(vocab))
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [],
        "normalizer": None, "pre_tokenizer": bl, "post_processor": None, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def tok(content, id_, special=True, normalized=None, single_word=False, lstrip=False, rstrip=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


def variants(base_size):
    V = base_size
    eot = tok("<|endoftext|>", V)
    bl = lambda **kw: dict({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                            "use_regex": True}, **kw)
    bl_nore = bl(use_regex=False)
    split = lambda pat, behavior, invert=False, kind="Regex": {
        "type": "Split", "pattern": {kind: pat}, "behavior": behavior, "invert": invert}
    seq_pre = lambda *p: {"type": "Sequence", "pretokenizers": list(p)}
    sp = lambda name: {"SpecialToken": {"id": name, "type_id": 0}}
    seq_a = {"Sequence": {"id": "A", "type_id": 0}}
    bos, eos = tok("<s>", V + 1), tok("</s>", V + 2)
    template = {"type": "TemplateProcessing", "single": [sp("<s>"), seq_a, sp("</s>")],
                "pair": [sp("<s>"), seq_a, sp("</s>"), {"Sequence": {"id": "B", "type_id": 1}}, sp("</s>")],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [V + 1], "tokens": ["<s>"]},
                                   "</s>": {"id": "</s>", "ids": [V + 2], "tokens": ["</s>"]}}}
    out = {
        "mini": {"added_tokens": [eot]},
        "mini_prefix_template": {"added_tokens": [eot, bos, eos], "pre_tokenizer": bl(add_prefix_space=True),
                                 "post_processor": {"type": "Sequence", "processors": [bl(), template]}},
        "mini_roberta": {"added_tokens": [eot, bos, eos],
                         "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", V + 2],
                                            "cls": ["<s>", V + 1], "trim_offsets": True,
                                            "add_prefix_space": False}},
        "mini_nore_prefix": {"added_tokens": [eot], "pre_tokenizer": bl(add_prefix_space=True, use_regex=False)},
        "mini_split_isolated": {"pre_tokenizer": seq_pre(split(r"\s", "Isolated"), bl_nore)},
        "mini_split_removed": {"pre_tokenizer": seq_pre(split(r"\s", "Removed"), bl_nore)},
        "mini_split_prev": {"pre_tokenizer": seq_pre(split(r"\s", "MergedWithPrevious"), bl_nore)},
        "mini_split_next": {"pre_tokenizer": seq_pre(split(r"\s", "MergedWithNext"), bl_nore)},
        "mini_split_contig": {"pre_tokenizer": seq_pre(split(r"\s", "Contiguous"), bl_nore)},
        "mini_split_invert": {"pre_tokenizer": seq_pre(split(r"\p{L}+|\p{N}", "Removed", True), bl_nore)},
        "mini_split_invert_contig": {"pre_tokenizer": seq_pre(split(r"\p{L}", "Contiguous", True), bl_nore)},
        "mini_split_string": {"pre_tokenizer": seq_pre(split(", ", "MergedWithNext", kind="String"),
                                                       split(".", "Isolated", kind="String"), bl())},
        "mini_split_empty_match": {"pre_tokenizer": seq_pre(split(r"\b|x*", "Isolated"), bl_nore)},
        "mini_digits": {"pre_tokenizer": seq_pre({"type": "Digits", "individual_digits": False}, bl())},
        "mini_digits_ind": {"pre_tokenizer": seq_pre({"type": "Digits", "individual_digits": True}, bl())},
        "mini_bl_then_digits": {"pre_tokenizer": seq_pre(bl(), {"type": "Digits", "individual_digits": True})},
        "mini_nfd": {"normalizer": {"type": "NFD"}},
        "mini_nfkc": {"normalizer": {"type": "NFKC"}},
        "mini_nfkd": {"normalizer": {"type": "NFKD"}},
        "mini_lower": {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}},
        "mini_replace_strip": {"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Replace", "pattern": {"String": "the"}, "content": "THE"},
            {"type": "Prepend", "prepend": "^"}]}},
        "mini_added": {
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]},
            "added_tokens": [eot,
                             tok("[MASK]", V + 1, special=True, lstrip=True),
                             tok("hello", V + 2, special=False, single_word=True),
                             tok("<rs>", V + 3, special=True, rstrip=True),
                             tok("WORLD", V + 4, special=False, normalized=True),
                             tok("<a>", V + 5, special=False, normalized=False),
                             tok("<a><b>", V + 6, special=True, normalized=False),
                             tok("Ångström", V + 7, special=False, normalized=True),
                             tok("  ", V + 8, special=False, normalized=True),
                             tok("<both>", V + 9, special=True, lstrip=True, rstrip=True),
                             tok("é", V + 10, special=False, normalized=False)]},
        "mini_ignore_merges": {"added_tokens": [eot], "model": {"ignore_merges": True}},
        "mini_whitespace_unk": {"pre_tokenizer": {"type": "Whitespace"},
                                "decoder": None, "model": {"unk_token": "<unk>", "vocab": {"<unk>": V}}},
        "mini_wssplit_fuse": {"pre_tokenizer": {"type": "WhitespaceSplit"}, "decoder": None,
                              "model": {"unk_token": "<unk>", "fuse_unk": True, "vocab": {"<unk>": V}}},
        "mini_added_ids_gap": {"added_tokens": [tok("<|endoftext|>", V + 5), tok("<x>", V + 9, special=False)]},
        "mini_char_drop": {"pre_tokenizer": {"type": "Whitespace"}, "decoder": None},
        "mini_byte_fallback": {
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
            "pre_tokenizer": None,
            "added_tokens": [tok("<unk>", V, special=True), tok("<s>", V + 1), tok("</s>", V + 2)],
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
            "model": {"unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                      "vocab": dict({"<unk>": V, "<s>": V + 1, "</s>": V + 2},
                                    **{"<0x%02X>" % b: V + 3 + b for b in range(256)})}},
        "mini_bl_normalizer": {"normalizer": {"type": "ByteLevel"},
                               "pre_tokenizer": split("\u0120", "MergedWithNext", kind="String")},
        "mini_decoder_none": {"added_tokens": [eot], "decoder": None},
        "mini_trunc_pad": {"added_tokens": [eot, bos, eos], "post_processor": template,
                           "truncation": {"direction": "Right", "max_length": 12, "strategy": "LongestFirst",
                                          "stride": 0},
                           "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": None,
                                       "pad_id": V, "pad_type_id": 0, "pad_token": "<|endoftext|>"}},
        "mini_bloom_split": {"pre_tokenizer": seq_pre(split(" ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+",
                                                             "Isolated"), bl_nore)},
        "mini_deepseek_like": {"pre_tokenizer": seq_pre(
            split(r"\p{N}{1,3}", "Isolated"), split("[\u4e00-\u9fa5\\u3040-\u309f\u30a0-\u30ff]+", "Isolated"),
            split(r"[\r\n]|\s?[A-Za-z\p{L}]+|\s?[!-/:-~\uff01-\uff0f]+|\s+$|\s+(?=\s)|\s", "Isolated"), bl_nore)},
        "mini_falcon_like": {"pre_tokenizer": seq_pre({"type": "Punctuation", "behavior": "Contiguous"}, bl(),
                                                      {"type": "Digits", "individual_digits": False},
                                                      split("[0-9][0-9][0-9]", "Isolated"))},
        "mini_metaspace_first": {
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
            "added_tokens": [tok("<unk>", V, special=True), tok("<s>", V + 1), tok("</s>", V + 2)],
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "ByteFallback"},
                {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]},
            "model": {"unk_token": "<unk>", "byte_fallback": True,
                      "vocab": dict({"<unk>": V, "<s>": V + 1, "</s>": V + 2},
                                    **{"<0x%02X>" % b: V + 3 + b for b in range(256)})}},
        "mini_metaspace_legacy": {
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
            "added_tokens": [tok("<unk>", V, special=True)],
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
            "model": {"unk_token": "<unk>", "vocab": {"<unk>": V}}},
        "mini_metaspace_always_nosplit": {
            "pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "always", "split": False},
            "decoder": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "always", "split": False}},
        "mini_trunc_left": {"added_tokens": [eot],
                            "truncation": {"direction": "Left", "max_length": 7, "strategy": "LongestFirst",
                                           "stride": 2},
                            "padding": {"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 8,
                                        "pad_id": V, "pad_type_id": 0, "pad_token": "<|endoftext|>"}},
    }
    return out


BOS_TEMPLATE = {"type": "Sequence", "processors": [
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    {"type": "TemplateProcessing",
     "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
     "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
              {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
     "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000],
                                              "tokens": ["<|begin_of_text|>"]}}}]}


def edge_texts():
    E = []
    add = lambda name, text: E.append({"name": name, "text": text})
    addhex = lambda name, hx: E.append({"name": name, "hex": hx})
    add("empty", "")
    add("hello", "Hello world")
    add("punct", "Hello, world! How's it going? (fine) [ok] {yes}...")
    add("lead_space", " leading space")
    add("trail_space", "trailing space ")
    add("spaces_mixed", "a  b   c    d     e      f")
    add("only_spaces", "   ")
    add("tabs", "tab\tseparated\t\tvalues\t")
    add("newlines", "line1\nline2\n\nline4\n")
    add("crlf", "crlf\r\nline\r\n\r\nend")
    add("cr_only", "a\rb\r\rc")
    add("ws_lines", "   \n   \n\t\n  x")
    add("nbsp", "a\u00a0b\u00a0\u00a0c")
    add("unicode_spaces", "x\u2000y\u2003z\u2009w\u202fv\u205fu\u3000t\u1680s")
    add("line_sep", "a\u2028b\u2029c")
    add("nel", "a\u0085b \u0085 c")
    add("mongolian_vs", "a\u180eb")
    add("zero_width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom")
    add("vt_ff", "a\u000bb\u000cc")
    add("controls", "\u0001\u0002\u001b[31mred\u001b[0m\u007f")
    add("nul", "a\u0000b")
    add("long_x", "x" * 1000)
    add("long_spaces", " " * 100)
    add("long_newlines", "\n" * 50)
    add("long_bang", "!" * 300)
    add("long_a", "a" * 5000)
    add("long_word_mix", "abcdefghij" * 300)
    add("long_emoji", "\U0001F642" * 20)
    add("digits", "1234567890 12 123 1234 12345")
    add("decimals", "3.14159 -2.5e10 0x1F 1,234,567.89")
    add("arabic_indic_digits", "\u0663\u0664\u0665 \u06f1\u06f2 \u0967\u0968")
    add("other_numbers", "\u2460\u2461\u2462 \u00bd \u00b2 \u216b \u3007")
    add("contractions", "I'm you're he'll they'd it's we've can't won't")
    add("contractions_upper", "I'M YOU'RE HE'LL THEY'D IT'S WE'VE DON'T She'S tHeY'rE")
    add("curly_apostrophe", "it\u2019s John\u2019s don\u2019t")
    add("apostrophes", "'s 's 'hello' ''' rock'n'roll")
    add("cjk", "你好，世界！这是一个测试。中文分词很重要。")
    add("japanese", "こんにちは世界、カタカナとひらがな。漢字も")
    add("korean", "안녕하세요 세계 한국어 텍스트")
    add("arabic", "مرحبا بالعالم، هذا اختبار.")
    add("hebrew", "שלום עולם! זה מבחן.")
    add("rtl_mixed", "abc مرحبا def שלום 123")
    add("rtl_marks", "\u202bembedded\u202c \u200fRLM\u200e")
    add("combining_decomposed", "e\u0301 a\u0300 o\u0308 n\u0303 cafe\u0301")
    add("combining_precomposed", "\u00e9 \u00e0 \u00f6 \u00f1 caf\u00e9")
    add("combining_stack", "x\u0301\u0302\u0303\u0304 Z\u0351\u0352\u0353a\u0336")
    add("angstrom_ohm", "\u212b \u2126 \u00c5 \u03a9 \u212a")
    add("hangul_jamo", "\u1100\u1161\u11a8 \u1112\u1161\u11ab")
    add("ligatures", "\ufb01le \ufb02ow \u0133 \u2167")
    add("fullwidth", "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13")
    add("devanagari", "नमस्ते दुनिया क्षत्रिय")
    add("thai", "สวัสดีชาวโลก ภาษาไทย")
    add("greek_cyrillic", "Ελληνικά ΣΑΣ σας Русский текст Ёё")
    add("turkish", "İstanbul ıi IĞDIR")
    add("german", "Straße STRASSE ẞ Ǆǅǆ ǈ")
    add("emoji_zwj", "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family")
    add("emoji_flag_rainbow", "\U0001F3F3\ufe0f\u200d\U0001F308 \U0001F1FA\U0001F1F8\U0001F1E9\U0001F1EA")
    add("emoji_skin", "\U0001F44D\U0001F3FD \U0001F469\U0001F3FF\u200d\U0001F4BB")
    add("emoji_keycap", "1\ufe0f\u20e3 #\ufe0f\u20e3 \u2764\ufe0f")
    add("emoji_text", "I love \U0001F355 and \U0001F680!!! \U0001F600\U0001F603")
    add("private_use", "\ue000\uf8ff \U000F0000")
    add("noncharacters", "\ufffe\uffff \U0010FFFF \U0001FFFF")
    add("replacement_char", "\ufffd already replaced")
    add("math", "\u2200x\u2208\u211d: x\u00b2\u22650, \u222b f(x)dx = \u221e")
    add("currency", "$100.00 \u20ac50 \u00a330 \u00a51000 \u20b9")
    add("url_email", "https://example.com/path?q=1&r=2#frag user.name+tag@example.co.uk")
    add("json", "{\"a\": [1, 2, 3], \"b\": {\"c\": null}}")
    add("code_py", "def f(x):\n    return x**2  # comment\n\nclass A:\n\tpass\n")
    add("code_c", "int main(void) {\n  printf(\"%d\\n\", 42);\n  return 0;\n}\n")
    add("indent", "    four\n        eight\n                sixteen\n                                thirtytwo")
    add("special_inside", "Hello <|endoftext|> world")
    add("special_repeat", "<|endoftext|><|endoftext|> <|endoftext|>")
    add("special_partial", "<|endoftext| <|endoftext <endoftext|>")
    add("special_at_edges", "<|endoftext|>middle<|endoftext|>")
    add("special_spaces", "  <|endoftext|>  x  <|endoftext|>\n")
    add("chatml", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n")
    add("llama3_chat", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>")
    add("gpt4o_special", "text<|endofprompt|>more<|endoftext|>")
    add("other_specials", "<s> hi </s> <unk> <pad> [MASK] <|padding|>")
    add("added_flags", "say hello world, sayhello, hello! x [MASK] y a   [MASK] <rs>   next")
    add("added_overlap", "<a><b><a> <a> <a><b> <both>  in  <both> out")
    add("added_norm", "World WORLD world \u00c5ngstr\u00f6m A\u030angstro\u0308m \u00e9 e\u0301")
    add("added_ws_runs", "x" + " " * 30 + "y  z   w")
    add("mixed_script_words", "hello世界abc123def日本語xyz")
    add("letters_digits", "abc123def456 R2D2 3D 100km/h")
    add("punct_runs", "...!!!???;;;::: --- ___ *** ///")
    add("newline_punct", "end.\n\nNext!\r\n?\n")
    add("space_newline_mix", "a \n b \n\n c  \n  d")
    add("kelvin_long_s", "\u212a \u017f 'S '\u017f")
    add("new_unicode", "\U0001FAE8 \U00011F04\U00011F05 \u0897")
    addhex("invalid_ff", "48656c6c6fff776f726c64")
    addhex("invalid_lone_cont", "80 41 bf".replace(" ", ""))
    addhex("invalid_truncated_end", "e4bda0e5a5")
    addhex("invalid_truncated_mid", "e282414243")
    addhex("invalid_overlong", "c0afe080af")
    addhex("invalid_surrogate", "eda080edbfbf")
    addhex("invalid_too_large", "f4908080f8888080")
    addhex("invalid_mixed", "61e29d4ff09f98ff62c3")
    return E


CODE_SNIPPET = r'''
// A few languages, with tabs, indentation, operators and string escapes.
#include <stdio.h>
#define MAX(a, b) ((a) > (b) ? (a) : (b))
static const char* kNames[] = {"alpha", "beta", "gamma"};
int sum(const int* xs, size_t n) {
	int s = 0;
	for (size_t i = 0; i < n; ++i) s += xs[i];
	return s;
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u32> = (0..10).map(|x| x * x).collect();
    println!("{:?} {}", v, v.iter().sum::<u32>());
    Ok(())
}

async function fetchJson(url) {
  const res = await fetch(url, { headers: { "Accept": "application/json" } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id
WHERE o.created_at >= '2024-01-01' GROUP BY u.id HAVING n > 3 ORDER BY n DESC;

<html><body><p class="x">Hello &amp; welcome&nbsp;&lt;3</p></body></html>

def quicksort(xs):
    if len(xs) <= 1:
        return xs
    pivot, *rest = xs
    return quicksort([x for x in rest if x < pivot]) + [pivot] + quicksort([x for x in rest if x >= pivot])

    # trailing spaces and tabs	 	
x = {"key": [1, 2.5e-3, None, True], 'other': r"\d+\s*"}  # noqa: E501
'''


def code_sample():
    parts = []
    for rel in ["CMakeLists.txt", "src/common/check.h", "src/common/check.cpp", "src/common/dtype.h",
                "src/common/dtype.cpp", "src/common/parallel.h", "src/common/parallel.cpp",
                "tools/xlstm/command.h", "tools/xlstm/main.cpp", "scripts/make_neox_tokenizer.py",
                "scripts/tokenizer_data.sh"]:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            parts.append(f.read())
    parts.append(CODE_SNIPPET)
    return "\n".join(parts)


def kjv_sample(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start_ps = lines.index("Psalms 1")

    def take(ls, limit):
        out, n = [], 0
        for l in ls:
            if n + len(l) + 1 > limit:
                break
            out.append(l)
            n += len(l) + 1
        return "\n".join(out) + "\n"

    return take(lines, 60000) + take(lines[start_ps:], 40000)


def main():
    gpt2_dir, kjv = sys.argv[1:3]
    os.makedirs(os.path.join(FIX, "texts"), exist_ok=True)
    base = mini_base(gpt2_dir)
    with open(os.path.join(FIX, "mini_base.json"), "w", encoding="utf-8") as f:
        json.dump(base, f, ensure_ascii=False, separators=(",", ":"))
    var = {"_doc": "tokenizer name -> {base: mini|neox|llama3|qwen3|gpt4o, patch: RFC 7386 merge patch}"}
    for name, patch in variants(len(base["model"]["vocab"])).items():
        var[name] = {"base": "mini", "patch": patch}
    for name in ["neox", "llama3", "qwen3", "gpt4o"]:
        var[name] = {"base": name, "patch": {}}
    var["llama3_bos"] = {"base": "llama3", "patch": {"post_processor": BOS_TEMPLATE}}
    with open(os.path.join(FIX, "variants.json"), "w", encoding="utf-8") as f:
        json.dump(var, f, ensure_ascii=False, indent=1)
    # The texts are frozen once written (their expected ids are committed): rewrite only with --force.
    force = "--force" in sys.argv
    for name, make in [("edge.json", lambda: json.dumps(edge_texts(), ensure_ascii=False, indent=0)),
                       ("code.txt", code_sample), ("kjv.txt", lambda: kjv_sample(kjv))]:
        path = os.path.join(FIX, "texts", name)
        if force or not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                f.write(make())


if __name__ == "__main__":
    main()
