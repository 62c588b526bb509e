#!/usr/bin/env python3
"""Why: measures what continuous batching buys on a running `xlstm serve` and checks that it changes nothing:
sends N completion requests one at a time, then the same N with C in flight at once, and reports tokens/s
of both and how many results differ (same seed, same request: they should not). Standard library only.

  bench/serve_load.py --url http://127.0.0.1:8080 -n 16 -c 8 --max-tokens 128
"""
import argparse
import json
import threading
import time
import urllib.request


def post(url, body):
    req = urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=60) as r:
        return {k: float(v) for k, v in (l.rsplit(" ", 1) for l in r.read().decode().splitlines() if l and l[0] != "#")}


def run(url, bodies, concurrency):
    out = [None] * len(bodies)
    nxt = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies):
                return
            out[i] = post(url, bodies[i])

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("-n", "--requests", type=int, default=16)
    ap.add_argument("-c", "--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=32, help="prompt token ids per request")
    ap.add_argument("--vocab", type=int, default=1000, help="prompt ids are drawn from [1, vocab)")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--no-sequential", action="store_true", help="skip the one-at-a-time pass (and the check)")
    a = ap.parse_args()
    bodies = [{"prompt": [(i * 7919 + k * 104729) % (a.vocab - 1) + 1 for k in range(a.prompt_len)],
               "max_tokens": a.max_tokens, "temperature": a.temperature, "seed": i, "ignore_eos": True}
              for i in range(a.requests)]
    tokens = a.requests * a.max_tokens
    res = {"requests": a.requests, "max_tokens": a.max_tokens, "prompt_len": a.prompt_len,
           "concurrency": a.concurrency}
    if not a.no_sequential:
        alone, t_seq = run(a.url, bodies, 1)
        res["sequential_s"] = round(t_seq, 3)
        res["sequential_tok_s"] = round(tokens / t_seq, 1)
    m0 = metrics(a.url)
    together, t_conc = run(a.url, bodies, a.concurrency)
    m1 = metrics(a.url)
    res["concurrent_s"] = round(t_conc, 3)
    res["concurrent_tok_s"] = round(tokens / t_conc, 1)
    steps = m1['xlstm_decode_steps_total{path="device"}'] - m0['xlstm_decode_steps_total{path="device"}']
    toks = m1['xlstm_decode_tokens_total{path="device"}'] - m0['xlstm_decode_tokens_total{path="device"}']
    res["mean_decode_batch"] = round(toks / steps, 2) if steps else 0
    res["decode_batch_max"] = m1['xlstm_decode_batch_max{path="device"}']
    if not a.no_sequential:
        diff = [i for i in range(a.requests) if alone[i]["choices"][0]["token_ids"] != together[i]["choices"][0]["token_ids"]]
        res["results_differing"] = len(diff)
        if diff:
            i = diff[0]
            x, y = alone[i]["choices"][0]["token_ids"], together[i]["choices"][0]["token_ids"]
            res["first_difference"] = {"request": i, "at_token": next(k for k in range(len(x)) if x[k] != y[k])}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
