"""Runner: logits and generation against the CLI, reproducibility, streaming, stop strings, the step API."""
import json
import subprocess

import numpy as np
import pytest

import xlstm_cpp


def run_cli(cli, *args):
    r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_logits_equal_cli(runner, model_dir, cli, tmp_path):
    ids = np.random.default_rng(0).integers(0, runner.info()["vocab"], size=37).astype(np.int32)
    np.save(tmp_path / "ids.npy", ids)
    run_cli(cli, "logits", "-m", model_dir, "--device", "cpu", "-t", 1, "--ids", tmp_path / "ids.npy",
            "-o", tmp_path / "out.npy")
    ref = np.load(tmp_path / "out.npy")
    got = runner.logits(ids)
    assert got.dtype == np.float32 and got.shape == (37, runner.info()["vocab"])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    # fewer rows through the head may round differently (matrix-product blocking)
    np.testing.assert_allclose(runner.logits(list(ids), last=5), got[-5:], rtol=0, atol=1e-5)
    assert runner.state.n_tokens == 0  # logits() leaves the runner's state alone


def test_generate_ids_equal_cli(runner, model_dir, cli):
    prompt = [5, 17, 200, 3, 99]
    cases = [dict(temperature=0, seed=1), dict(temperature=0.9, seed=3), dict(temperature=1.3, seed=12345),
             dict(temperature=1.0, seed=7, top_k=5, top_p=0.8, min_p=0.1, repeat_penalty=1.3, repeat_last_n=8),
             dict(temperature=1.5, seed=8, top_k=0, top_p=1.0, min_p=0.0)]
    flags = dict(temperature="--temp", seed="-s", top_k="--top-k", top_p="--top-p", min_p="--min-p",
                 repeat_penalty="--repeat-penalty", repeat_last_n="--repeat-last-n")
    for kw in cases:
        args = [a for k, v in kw.items() for a in (flags[k], v)]
        out = run_cli(cli, "generate", "-m", model_dir, "--device", "cpu", "-t", 1, "--prompt-ids",
                      ",".join(map(str, prompt)), "-n", 20, *args, "--ignore-eos", "--print-ids", "-q")
        ref = json.loads(out.strip().splitlines()[-1])
        assert runner.generate_ids(prompt, max_tokens=20, ignore_eos=True, **kw) == ref, kw


def test_greedy_is_argmax_of_logits(runner):
    prompt = [1, 2, 3, 4]
    got = runner.generate_ids(prompt, max_tokens=6, temperature=0, ignore_eos=True)
    seq = list(prompt)
    for t in got:
        assert t == int(np.argmax(runner.logits(seq)[-1]))
        seq.append(t)


def test_seeded_generation_is_reproducible(runner):
    a = runner.generate("In the beginning", max_tokens=25, seed=7)
    b = runner.generate("In the beginning", max_tokens=25, seed=7)
    assert isinstance(a, str) and a == b
    texts = {runner.generate("In the beginning", max_tokens=25, seed=s, temperature=1.5) for s in range(4)}
    assert len(texts) > 1  # the seed matters
    ids = runner.generate_ids([7, 8, 9], max_tokens=12, seed=5, temperature=1.2)
    assert ids == runner.generate_ids([7, 8, 9], max_tokens=12, seed=5, temperature=1.2)


def test_stream_joins_to_generate(runner):
    kw = dict(max_tokens=30, seed=11, temperature=1.0, ignore_eos=True)
    text = runner.generate("In the beginning", **kw)
    stats = runner.last_stats
    pieces = list(runner.stream("In the beginning", **kw))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == text
    assert stats["generated_tokens"] == 30 and stats["finish_reason"] == "length"
    assert runner.last_stats["generated_tokens"] == 30


def test_stop_strings_cut_the_text(runner):
    kw = dict(max_tokens=40, seed=2, temperature=1.0, ignore_eos=True)
    full = runner.generate("And God said", **kw)
    assert len(full) > 8
    stop = full[5:8]
    first = full.find(stop)
    cut = runner.generate("And God said", stop=[stop], **kw)
    assert cut == full[:first]
    assert runner.last_stats["finish_reason"] == "stop"
    assert "".join(runner.stream("And God said", stop=[stop], **kw)) == cut
    # of several stop strings the earliest match wins; one that never occurs changes nothing
    assert runner.generate("And God said", stop=["\x00never", stop], **kw) == cut
    assert runner.generate("And God said", stop=["\x00never"], **kw) == full
    assert runner.generate("And God said", stop=stop, **kw) == cut  # one string is a list of one


def test_stop_ids_and_eos(runner):
    ids = runner.generate_ids([1, 2, 3], max_tokens=15, temperature=0, ignore_eos=True)
    stop = ids[4]
    first = ids.index(stop)
    got = runner.generate_ids([1, 2, 3], max_tokens=15, temperature=0, ignore_eos=True, stop_ids=[stop])
    assert got == ids[: first + 1]  # the stop id is returned, as the CLI does
    assert runner.last_stats["finish_reason"] == "stop"
    eos = runner.info()["eos_id"]
    # eos stops generation unless ignore_eos; it is returned by generate_ids but never part of the text
    with_eos = runner.generate_ids([1, 2, 3], max_tokens=200, temperature=2.0, top_k=0, top_p=1.0, min_p=0.0, seed=4)
    assert eos not in with_eos[:-1]


def test_max_tokens_zero(runner):
    assert runner.generate("In the beginning", max_tokens=0) == ""
    assert runner.generate_ids([1, 2], max_tokens=0) == []
    assert list(runner.stream("In the beginning", max_tokens=0)) == []


def test_generate_next_token_matches_generate_ids(runner):
    prompt = [10, 20, 30, 40]
    ref = runner.generate_ids(prompt, max_tokens=8, temperature=0, ignore_eos=True)
    runner.reset_state()
    toks = [runner.generate_next_token(prompt)]
    assert runner.state.pending == toks[0]
    for _ in range(7):
        toks.append(runner.generate_next_token())  # the pending token is fed first
    assert toks == ref
    assert runner.state.n_tokens == len(prompt) + len(ref)
    # new ids continue after the pending token: same as the logits of the whole sequence
    nxt = runner.generate_next_token([5, 6])
    assert nxt == int(np.argmax(runner.logits(prompt + ref + [5, 6])[-1]))


def test_continue_with_reset_false(runner):
    """generate(reset=False) continues the state: the same as one prefill of the whole sequence."""
    a = runner.generate_ids([3, 1, 4, 1, 5], max_tokens=6, temperature=0, ignore_eos=True)
    b = runner.generate_ids([9, 2, 6], max_tokens=6, temperature=0, ignore_eos=True, reset=False)
    c = runner.generate_ids([3, 1, 4, 1, 5] + a + [9, 2, 6], max_tokens=6, temperature=0, ignore_eos=True)
    assert b == c


def test_text_prompt_gets_bos(runner):
    tok = runner.tokenizer
    ids = tok.encode("In the beginning")
    bos = runner.info()["bos_id"]
    # the config sets force_bos_token_insert: a text prompt is [BOS] + its ids
    assert runner.generate("In the beginning", max_tokens=10, temperature=0, ignore_eos=True) == tok.decode(
        runner.generate_ids([bos] + ids, max_tokens=10, temperature=0, ignore_eos=True))
    assert runner.generate(ids, max_tokens=5, temperature=0) is not None  # ids are accepted as a prompt too


def test_info(runner):
    info = runner.info()
    for k in ["arch", "blocks", "hidden", "heads", "vocab", "params", "dtype", "device", "state_bytes"]:
        assert k in info
    assert info["arch"] == "xlstm" and info["blocks"] == 2 and info["hidden"] == 48 and info["heads"] == 3
    assert info["device"] == "cpu" and info["dtype"] == "f32" and info["params"] > 0
    assert info["state_bytes"] == runner.state.nbytes > 0
    assert "Runner" in repr(runner)


def test_bf16_runs(model_dir):
    r = xlstm_cpp.Runner(model_dir, device="cpu", threads=1, dtype="bf16")
    assert r.info()["dtype"] == "bf16"
    ref = xlstm_cpp.Runner(model_dir, device="cpu", threads=1).logits([1, 2, 3])
    np.testing.assert_allclose(r.logits([1, 2, 3]), ref, atol=0.5)


def test_stream_is_interrupted_by_other_calls(runner):
    s = runner.stream("In the beginning", max_tokens=20, ignore_eos=True)
    next(s)
    runner.generate_ids([1, 2], max_tokens=2)
    with pytest.raises(xlstm_cpp.Error, match="interrupted"):
        next(s)


def test_perplexity_from_logits(runner):
    ids = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38]
    lg = runner.logits(ids).astype(np.float64)
    logp = lg - np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1, keepdims=True)) - lg.max(1, keepdims=True)
    nll = -np.mean([logp[i, ids[i + 1]] for i in range(len(ids) - 1)])
    assert runner.perplexity(ids) == pytest.approx(np.exp(nll), rel=1e-5)
    assert runner.perplexity(ids, segment=3) == pytest.approx(np.exp(nll), rel=1e-5)
    assert runner.perplexity("In the beginning God created") > 1
