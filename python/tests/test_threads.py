"""Two Runners generating from two threads at once give what they give one after the other."""
import threading

import xlstm_cpp


def work(r, out, key):
    out[key] = (r.generate("In the beginning", max_tokens=40, seed=5, ignore_eos=True),
                r.generate_ids([1, 2, 3, 4], max_tokens=40, seed=6, temperature=1.1, ignore_eos=True),
                r.logits(list(range(1, 60))).tobytes())


def test_two_runners_concurrently(model_dir, bare_model_dir):
    a = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    b = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    seq = {}
    work(a, seq, "a")
    par = {}
    for _ in range(3):
        ts = [threading.Thread(target=work, args=(r, par, k)) for r, k in [(a, "a"), (b, "b")]]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert par["a"] == seq["a"] and par["b"] == seq["a"]


def test_one_runner_from_two_threads(model_dir):
    """Calls on one Runner from several threads are serialised (no crash, consistent results)."""
    r = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    ref = r.generate_ids([1, 2, 3, 4], max_tokens=40, seed=6, temperature=1.1, ignore_eos=True)
    res = []
    ts = [threading.Thread(target=lambda: res.append(
        r.generate_ids([1, 2, 3, 4], max_tokens=40, seed=6, temperature=1.1, ignore_eos=True))) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert res == [ref] * 4


def test_gil_is_released(model_dir):
    """While a long generation runs in one thread, another Python thread keeps running."""
    r = xlstm_cpp.Runner(model_dir, device="cpu", threads=1)
    done = threading.Event()
    ticks = []

    def gen():
        r.generate_ids(list(range(1, 200)) * 20, max_tokens=400, ignore_eos=True)
        done.set()

    t = threading.Thread(target=gen)
    t.start()
    while not done.is_set():
        ticks.append(1)
        done.wait(0.001)
    t.join()
    assert len(ticks) > 3
