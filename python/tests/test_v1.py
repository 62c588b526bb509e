"""The original xLSTM family (mLSTM v1 / sLSTM blocks) through the module: the package's own reference models
(tests/fixtures/v1): logits and greedy continuations, the auto device, state save/load."""
import json
from pathlib import Path

import numpy as np
import pytest

import xlstm_cpp

FIX = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "v1"


@pytest.mark.parametrize("name", ["v1_mixed", "v1_slstm"])
def test_matches_the_package(name):
    d = FIX / name
    r = xlstm_cpp.Runner(str(d), device="auto", threads=1)  # auto: the CPU for this family
    info = r.info()
    assert info["arch"] == "xlstm_v1" and info["device"] == "cpu"
    expected = json.loads((d / "expected.json").read_text())
    for L in [1, 7, 64, 65]:
        ids = np.load(d / f"ids_{L}.npy")
        ref = np.load(d / f"logits_{L}.npy")
        got = r.logits(ids)
        assert np.abs(got - ref).max() / np.abs(ref).max() < 5e-6
        assert r.generate_ids(list(ids), max_tokens=12, temperature=0) == expected[str(L)]["greedy_next12"]


def test_state_save_load(tmp_path):
    d = FIX / "v1_mixed"
    ids = [int(x) for x in np.load(d / "ids_200.npy")]
    r = xlstm_cpp.Runner(str(d), device="cpu", threads=1)
    want = r.generate_ids(ids, max_tokens=12, temperature=0)
    r.generate_ids(ids[:150], max_tokens=0)
    r.state.save(str(tmp_path / "s.bin"))
    r2 = xlstm_cpp.Runner(str(d), device="cpu", threads=1)
    r2.state.load(str(tmp_path / "s.bin"))
    assert r2.generate_ids(ids[150:], max_tokens=12, temperature=0, reset=False) == want
