#!/usr/bin/python3
"""PyTorch fp32 CPU baseline: one Llama training step (forward, mean cross-entropy, backward,
AdamW), using the model of tests/reference/r1ref.py. Prints one JSON line.

  /usr/bin/python3 bench/torch_train_step.py --hidden 512 --layers 8 --heads 8 --kv-heads 8 \
      --ffn 1408 --vocab 4096 --seq-len 256 --batch 8 --steps 5 --warmup 2 --threads 2

Sequences are separate and equally long, so this uses a plain [B, T] batch with one shared
causal mask (torch 1.13 has no scaled_dot_product_attention: matmul + additive mask + softmax).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import r1ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("hidden", 512), ("layers", 8), ("heads", 8), ("kv-heads", 8),
                          ("ffn", 1408), ("vocab", 4096), ("seq-len", 256), ("batch", 8),
                          ("steps", 5), ("warmup", 2), ("threads", torch.get_num_threads())):
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    cfg = r1ref.Config.from_dict({
        "architectures": ["LlamaForCausalLM"], "vocab_size": a.vocab, "hidden_size": a.hidden,
        "intermediate_size": a.ffn, "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads})
    params = r1ref.init_params(cfg, seed=0)
    for t in params.values():
        t.requires_grad_(True)
    model = r1ref.Model(cfg, params)
    plist = model.parameters()
    # Same decay grouping as the reference's adamw; foreach=True batches the update kernels.
    opt = torch.optim.AdamW([{"params": [t for t in plist if t.dim() >= 2], "weight_decay": 0.1},
                             {"params": [t for t in plist if t.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-4, foreach=True)

    B, T, V = a.batch, a.seq_len, a.vocab
    data = torch.randint(V, (B, T + 1))
    inputs, targets = data[:, :-1], data[:, 1:]
    positions = torch.arange(T)[None]                       # broadcast over the batch
    mask = r1ref.causal_mask(T, torch.float32)[None, None]  # built once, shared by all layers

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model.forward(inputs, positions, mask)
        F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).backward()
        opt.step()

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)

    n_params = sum(t.numel() for t in plist)
    # FLOPs per step = 6 * N * tokens + 12 * L * B * T^2 * Hq * hd, where
    #   N = matmul parameters: everything except the embedding table, whose lookup is free
    #       (lm_head counts: it is a [V, D] matmul; norm weights are included, negligibly);
    #   6 = 2 (multiply-add) * 3 (forward + two backward matmuls);
    #   attention: QK^T and PV are 2 * T^2 * hd FLOPs each per head and sequence forward, times 3
    #       for training; the full T x T is counted because the masked matmul computes all of it.
    n_matmul = n_params - params["model.embed_tokens.weight"].numel()
    tokens = B * T
    flop = 6 * n_matmul * tokens + 12 * a.layers * B * T * T * a.heads * cfg.head_dim
    sec = statistics.median(times)
    print(json.dumps({
        "params": n_params, "tokens_per_step": tokens, "step_seconds": round(sec, 4),
        "tokens_per_s": round(tokens / sec, 1), "model_gflop_per_step": round(flop / 1e9, 3),
        "gflops": round(flop / 1e9 / sec, 2), "threads": a.threads,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
