"""The module on the CUDA backend (skipped where this build has no CUDA or there is no GPU)."""
import threading

import numpy as np
import pytest

import xlstm_cpp

pytestmark = pytest.mark.skipif(not xlstm_cpp.cuda_available()[0], reason="CUDA backend unavailable")
GREEDY = dict(temperature=0, ignore_eos=True)


@pytest.fixture(scope="module")
def gpu(model_dir):
    return xlstm_cpp.Runner(model_dir, device="cuda", dtype="f32")


@pytest.fixture(scope="module")
def cpu(model_dir):
    return xlstm_cpp.Runner(model_dir, device="cpu", threads=1, dtype="f32")


def test_cuda_matches_cpu(gpu, cpu):
    assert gpu.info()["device"] == "cuda"
    ids = list(np.random.default_rng(1).integers(0, gpu.info()["vocab"], size=150))
    np.testing.assert_allclose(gpu.logits(ids), cpu.logits(ids), rtol=0, atol=2e-3)
    assert gpu.generate_ids(ids[:20], max_tokens=16, **GREEDY) == cpu.generate_ids(ids[:20], max_tokens=16, **GREEDY)


def test_cuda_generation(gpu):
    kw = dict(max_tokens=40, seed=3, temperature=1.0, ignore_eos=True)
    a = gpu.generate("In the beginning", **kw)
    assert a == gpu.generate("In the beginning", **kw)
    assert "".join(gpu.stream("In the beginning", **kw)) == a
    pen = dict(kw, repeat_penalty=1.3)  # host sampling path
    assert gpu.generate_ids([1, 2, 3], **pen) == gpu.generate_ids([1, 2, 3], **pen)


def test_cuda_state_moves_to_cpu(gpu, cpu, tmp_path):
    gpu.generate_ids([5, 6, 7, 8], max_tokens=6, **GREEDY)
    gpu.state.save(tmp_path / "g.bin")
    ref = gpu.generate_ids([9], max_tokens=8, reset=False, **GREEDY)
    cpu.state.load(tmp_path / "g.bin")
    assert cpu.generate_ids([9], max_tokens=8, reset=False, **GREEDY) == ref
    gpu.generate_ids([5, 6, 7, 8], max_tokens=6, **GREEDY)
    cpu.state = gpu.state  # across devices through host memory
    assert cpu.generate_ids([9], max_tokens=8, reset=False, **GREEDY) == ref


def test_cuda_two_runners_in_threads(model_dir):
    rs = [xlstm_cpp.Runner(model_dir, device="cuda") for _ in range(2)]
    ref = rs[0].generate_ids([1, 2, 3], max_tokens=64, seed=2, temperature=0.9, ignore_eos=True)
    out = {}
    ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, rs[i].generate_ids(
        [1, 2, 3], max_tokens=64, seed=2, temperature=0.9, ignore_eos=True))) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == {0: ref, 1: ref}
