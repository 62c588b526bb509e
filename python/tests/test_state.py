"""runner.state: save/load continues identically (same Runner and a fresh one), copies, assignment."""
import numpy as np
import pytest

import xlstm_cpp

GREEDY = dict(temperature=0, ignore_eos=True)


def test_save_load_continues_identically(model_dir, tmp_path):
    r = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    first = r.generate_ids([11, 12, 13, 14], max_tokens=5, **GREEDY)
    assert r.state.pending == first[-1]
    n = r.state.n_tokens
    r.state.save(tmp_path / "s.bin")  # feeds the pending token first: the file holds the whole sequence
    assert r.state.pending is None and r.state.n_tokens == n
    ref = r.generate_ids([7, 8], max_tokens=10, reset=False, seed=3, temperature=0.9, ignore_eos=True)

    r.reset_state()
    assert r.state.n_tokens == 0
    r.state.load(str(tmp_path / "s.bin"))
    assert r.state.n_tokens == n
    assert r.generate_ids([7, 8], max_tokens=10, reset=False, seed=3, temperature=0.9, ignore_eos=True) == ref

    fresh = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    fresh.state.load(tmp_path / "s.bin")
    assert fresh.generate_ids([7, 8], max_tokens=10, reset=False, seed=3, temperature=0.9, ignore_eos=True) == ref
    # and it is the same as running the whole sequence from scratch
    whole = fresh.generate_ids([11, 12, 13, 14] + first + [7, 8], max_tokens=10, seed=3, temperature=0.9,
                               ignore_eos=True)
    assert whole == ref


def test_text_continuation_after_load(model_dir, tmp_path):
    r = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    r.generate("In the beginning", max_tokens=4, **GREEDY)
    r.state.save(tmp_path / "t.bin")
    ref = r.generate(" and the earth", max_tokens=12, reset=False, seed=9)
    other = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    other.state.load(tmp_path / "t.bin")
    assert other.generate(" and the earth", max_tokens=12, reset=False, seed=9) == ref


def test_copy_and_assign(runner):
    runner.generate_ids([1, 2, 3], max_tokens=4, **GREEDY)
    snap = runner.state.copy()
    assert snap.n_tokens == runner.state.n_tokens and snap.pending == runner.state.pending
    a = runner.generate_ids([4, 5], max_tokens=6, reset=False, **GREEDY)
    assert snap.n_tokens == 7  # the copy is detached
    runner.state = snap  # back to the snapshot (pending token included)
    assert runner.generate_ids([4, 5], max_tokens=6, reset=False, **GREEDY) == a
    np.testing.assert_array_equal(snap.numpy(), snap.copy().numpy())


def test_state_moves_between_runners(model_dir, runner):
    runner.generate_ids([9, 9, 9], max_tokens=3, **GREEDY)
    snap = runner.state.copy()
    ref = runner.generate_ids([1], max_tokens=5, reset=False, **GREEDY)
    other = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    other.state = snap
    assert other.generate_ids([1], max_tokens=5, reset=False, **GREEDY) == ref


def test_reset(runner):
    runner.generate_ids([1, 2, 3], max_tokens=3)
    runner.reset_state()
    assert runner.state.n_tokens == 0 and runner.state.pending is None
    assert not runner.state.numpy().any()


def test_bad_state_files(runner, bare_model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runner.state.load(tmp_path / "missing.bin")
    (tmp_path / "junk.bin").write_bytes(b"not a state at all")
    with pytest.raises(xlstm_cpp.Error, match="not an xlstm state file"):
        runner.state.load(tmp_path / "junk.bin")
    other = xlstm_cpp.Runner(bare_model_dir, device="cpu", threads=1)
    other.generate_ids([1, 2], max_tokens=2)
    other.state.save(tmp_path / "other.bin")
    before = runner.state.copy()
    with pytest.raises(xlstm_cpp.Error, match="another model"):
        runner.state.load(tmp_path / "other.bin")
    np.testing.assert_array_equal(runner.state.numpy(), before.numpy())  # untouched on failure
    with pytest.raises(xlstm_cpp.Error, match="another model"):
        runner.state = other.state
