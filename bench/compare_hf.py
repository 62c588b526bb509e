#!/usr/bin/env python3
"""Times transformers' xLSTM on the same architecture as `xlstm bench`, in the same call.

Runs on the GPU machine (transformers 5.17, torch 2.11). Builds xLSTMForCausalLM from a config.json with
random bf16 weights on the GPU and measures, with CUDA events after warm-up (median of repeats):
  prefill of P tokens (tokens/s, batch 1), decode at batch B (tokens/s in total, using transformers'
  recurrent cache through generate()), and peak GPU memory. Prints a markdown table and writes JSON.

    python3 bench/compare_hf.py --config bench/configs/xlstm-7b.json --prefill 2048 8192 \
        --decode-batch 1 16 --decode-tokens 64 --json $OUT/hf.json
"""
import argparse
import json
import statistics
import time

import torch
from transformers import xLSTMConfig, xLSTMForCausalLM


def median_ms(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--prefill", type=int, nargs="*", default=[2048, 8192])
    ap.add_argument("--decode-batch", type=int, nargs="*", default=[1, 16])
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    cfg_dict = json.load(open(a.config))
    for k in ("architectures", "torch_dtype", "force_bos_token_insert"):
        cfg_dict.pop(k, None)
    # Native torch kernels (what transformers runs without NX-AI's Triton package).
    cfg_dict.update(chunkwise_kernel="chunkwise--native_autograd", sequence_kernel="native_sequence__native",
                    step_kernel="native", mode="inference", return_last_states=True, use_cache=True)
    cfg = xLSTMConfig(**cfg_dict)
    torch.manual_seed(0)
    t0 = time.time()
    with torch.device("cuda"):
        model = xLSTMForCausalLM(cfg).to(torch.bfloat16)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"transformers model built in {time.time() - t0:.1f} s, {n_params / 1e9:.3f} B params", flush=True)
    V = cfg.vocab_size
    g = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    with torch.inference_mode():
        for P in a.prefill:
            ids = torch.randint(3, V, (1, P), device="cuda", generator=g)
            torch.cuda.reset_peak_memory_stats()
            try:
                ms = median_ms(lambda: model(ids, use_cache=True, logits_to_keep=1), a.reps)
                rows.append({"test": f"pp{P}", "tps": P / (ms / 1e3), "ms": ms,
                             "peak_gib": torch.cuda.max_memory_allocated() / 2**30})
            except torch.OutOfMemoryError as e:
                rows.append({"test": f"pp{P}", "error": "out of memory"})
                torch.cuda.empty_cache()
            print(rows[-1], flush=True)
        for B in a.decode_batch:
            ids = torch.randint(3, V, (B, 16), device="cuda", generator=g)
            N = a.decode_tokens

            def gen(n):
                return model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                                      pad_token_id=cfg.pad_token_id)

            ms_full = median_ms(lambda: gen(N + 1), a.reps)
            ms_one = median_ms(lambda: gen(1), a.reps)
            per_step = (ms_full - ms_one) / N
            rows.append({"test": f"tg{N} x{B}", "tps": B / (per_step / 1e3), "ms_per_step": per_step})
            print(rows[-1], flush=True)
    print("\n| system | test | t/s |\n|---|---|---|")
    for r in rows:
        print(f"| transformers {__import__('transformers').__version__} (native kernels) | {r['test']} | "
              f"{r.get('tps', float('nan')):.1f} |")
    if a.json:
        json.dump({"rows": rows, "params": n_params, "gpu": torch.cuda.get_device_name()}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
