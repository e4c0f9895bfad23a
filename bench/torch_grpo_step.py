#!/usr/bin/python3
"""PyTorch CPU baseline: one GRPO step as r1.cpp's trainer runs it, on a random decoder-only model.
Prints one JSON line. Run it with Debian's /usr/bin/python3 (torch 1.13).

  /usr/bin/python3 bench/torch_grpo_step.py                    # Qwen2.5-0.5B shape, 1 step
  /usr/bin/python3 bench/torch_grpo_step.py --layers 2 --vocab 8192 --ffn 1024 --steps 2 --warmup 1

The defaults are Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 query / 2 kv heads, head_dim 64,
FFN 4864, vocabulary 151936, tied embeddings, q/k/v biases, rope_theta 1e6, rms eps 1e-6) and
the step of bench_grpo --shape qwen0.5b: 4 prompts x 8 samples, 150-token prompts, 256-token
completions, temperature 1, beta 0.001, r1 zero's GRPO recipe otherwise (eps 0.2 / 0.2, mu 1,
one mini-batch, AdamW lr 3e-4, betas 0.9 / 0.99, no weight decay, gradient clip 1.0).

What one step does, as src/train/grpo_trainer.cpp does it:
  1. rollout: random prompts; each prompt is prefilled once and its KV cache copied into its G
     samples (r1.cpp's engine forks the prompt's cache blocks); then max_new_tokens decode steps
     for all B*G samples at once with a preallocated KV cache, sampling from softmax(logits / T).
     No stop token: every completion is max_new_tokens long (a random model almost never samples
     EOS, and r1.cpp's bench turns the stop strings off, so both sides do the same work).
  2. rewards: random +-1 per sample (fixed seed) and group-normalised advantages
     (r - mean) / (std + 1e-4), std unbiased, 0 for a group whose rewards are all equal.
  3. pi_ref: the reference model's (a frozen copy of the initial weights) log-probs, no grad.
     pi_old: the sampler's log-probs in fp32 (r1.cpp's grpo.old_logp = "auto"); with
     --rollout-dtype bf16 they are recomputed by an fp32 forward, as r1.cpp does for bf16 rollouts.
  4. update: mu passes of mini_batches AdamW steps; loss = clipped surrogate + beta * k3 KL
     (exp(ref - logp) - (ref - logp) - 1), aggregated per --loss-agg (seq-mean, the recipe's, and
     token-mean are the same here: every completion has the same length). Gradients accumulate
     over micro-batches of --micro-batch samples of one prompt; as r1.cpp does
     (grpo.share_prompt), a micro-batch runs its prompt once and the samples attend to its keys
     and values, so the prompt's gradient flows through them.
--micro-batch (4 samples) bounds the autograd activations: at the full shape the step's peak RSS
is about 15 GB (weights, gradients, AdamW moments and the reference copy are 10 GB of it); 8 runs
each prompt once per group, as r1.cpp does when memory allows, for about 3 GB more.
The LM head's log-probs are computed --chunk rows at a time under activation checkpointing, so
the logits of a whole batch (32 x 406 x 151936 floats, 8 GB) never exist at once.

Differences from r1.cpp, all small: log-probs are over the whole vocabulary (r1.cpp's over the
tokenizer's 151665 ids); the continuation of each sample is its last prompt token and its first
C-1 completion tokens (r1.cpp also runs the last completion token, whose prediction is unused);
train tokens count the prompt once per micro-batch plus C per sample; r1.cpp's forward also
returns each position's entropy (a metric); its prompts are random one-token words (these are
random ids) and its rewards the recipe's rule rewards (0 on random text: advantages 0, the same
work). torch 1.13 has no fused
attention: attention is matmul + additive mask + softmax, grouped-query heads by broadcasting.

Before torch loads, the script sets what r1.cpp sets for its own libraries (unless already set):
OPENBLAS_CORETYPE naming the AVX-512 kernels (Debian's OpenBLAS picks SSE3 ones on recent Xeons)
and OMP_WAIT_POLICY=passive, so both sides multiply matrices with the same OpenBLAS kernels; the
JSON line names the kernels ("blas_core").

--rollout-dtype bf16 runs the rollout under torch.autocast("cpu", torch.bfloat16) (matrix
products in bf16, the weights cast once per rollout; torch 1.13 supports it on CPU) and keeps the
KV cache in bf16; the update stays fp32, as in r1.cpp with model.compute = "bf16".
"""
import argparse
import ctypes
import json
import math
import os
import resource
import sys
import time


def set_library_defaults():
    """What r1.cpp sets for itself before its libraries start (src/kernels/blas.cpp), so that both
    sides run the same OpenBLAS kernels: Debian's OpenBLAS 0.3.21 picks SSE3 kernels on recent
    Xeons unless OPENBLAS_CORETYPE names the AVX-512 ones; waiting OpenMP threads sleep. A value
    already set wins. Must run before torch (and its BLAS) is loaded."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    if all(x in flags for x in ("avx512f", "avx512dq", "avx512bw", "avx512vl")):
        os.environ.setdefault("OPENBLAS_CORETYPE",
                              "Cooperlake" if "avx512_bf16" in flags else "SkylakeX")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


set_library_defaults()
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.utils.checkpoint  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import r1ref  # noqa: E402

CLAMP = 20.0  # log-ratios are clamped before exp, as in r1.cpp's loss and grpo_ref.py


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ints = (("hidden", 896), ("layers", 24), ("heads", 14), ("kv-heads", 2), ("head-dim", 64),
            ("ffn", 4864), ("vocab", 151936), ("prompts", 4), ("group", 8), ("prompt-len", 150),
            ("new-tokens", 256), ("mu", 1), ("mini-batches", 1), ("micro-batch", 4),
            ("chunk", 256), ("steps", 1), ("warmup", 0), ("seed", 0),
            ("threads", os.cpu_count() or 1))
    for name, default in ints:
        ap.add_argument("--" + name, type=int, default=default)
    floats = (("theta", 1e6), ("rms-eps", 1e-6), ("temperature", 1.0), ("beta", 0.001),
              ("eps-low", 0.2), ("eps-high", 0.2), ("lr", 3e-4), ("beta1", 0.9), ("beta2", 0.99),
              ("grad-clip", 1.0))
    for name, default in floats:
        ap.add_argument("--" + name, type=float, default=default)
    ap.add_argument("--loss-agg", choices=("seq-mean", "token-mean"), default="seq-mean")
    ap.add_argument("--rollout-dtype", choices=("f32", "bf16"), default="f32")
    a = ap.parse_args(argv)
    if a.heads % a.kv_heads or a.head_dim % 2:
        ap.error("--heads must be a multiple of --kv-heads and --head-dim even")
    if a.mini_batches > a.prompts * a.group:
        ap.error("--mini-batches must be at most --prompts x --group")
    return a


class Decoder:
    """A Qwen2-style decoder over r1ref's {HF name: tensor} dict, with a key/value cache.

    run() takes tokens [N, T] at positions start..start+T-1 and the keys/values of the positions
    before them (per layer, [N, Hkv, S, hd], or None), and returns the final-normed hidden states
    [N, T, D] and each layer's keys/values of the new positions. Keys and values stay in the kv-head
    layout: query heads are grouped over them by broadcasting, never copied."""

    def __init__(self, cfg, params):
        self.c, self.p = cfg, params

    def run(self, tokens, start, past=None, cache=None):
        """With cache (preallocated [N, Hkv, S_max, hd] per layer, no grad), the new keys/values are
        written at start.. and attention reads cache[..., :start + T]; otherwise attention reads
        cat(past, new) and the new keys/values are returned for the caller to keep."""
        c, p = self.c, self.p
        N, T = tokens.shape
        x = F.embedding(tokens, p["model.embed_tokens.weight"])
        pos = torch.arange(start, start + T)[None]
        cos, sin = r1ref.rope_tables(pos, c.head_dim, c.theta, torch.float32)
        S = start + T
        mask = None
        if T > 1:  # query i (position start + i) sees keys 0..start + i
            mask = r1ref.causal_mask(S, torch.float32)[start:][None, None, None]
        new_kv = []
        for i in range(c.layers):
            pre = f"model.layers.{i}."
            n = r1ref.rms_norm(x, p[pre + "input_layernorm.weight"], c.eps)
            k_past = v_past = None
            if past is not None:
                k_past, v_past = past[i]
            a, kv = self.attention(n, pre + "self_attn.", cos, sin, mask, start, k_past, v_past,
                                   None if cache is None else cache[i])
            new_kv.append(kv)
            x = x + a
            n = r1ref.rms_norm(x, p[pre + "post_attention_layernorm.weight"], c.eps)
            gate = F.linear(n, p[pre + "mlp.gate_proj.weight"])
            up = F.linear(n, p[pre + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(gate) * up, p[pre + "mlp.down_proj.weight"])
        return r1ref.rms_norm(x, p["model.norm.weight"], c.eps), new_kv

    def attention(self, n, pre, cos, sin, mask, start, k_past, v_past, cache):
        c, p = self.c, self.p
        N, T, _ = n.shape
        hd, Hkv, rep = c.head_dim, c.kv_heads, c.heads // c.kv_heads

        def proj(name, heads):
            y = F.linear(n, p[pre + name + ".weight"], p.get(pre + name + ".bias"))
            return y.view(N, T, heads, hd).transpose(1, 2)  # [N, heads, T, hd]

        q = r1ref.apply_rope(proj("q_proj", c.heads), cos.to(n.dtype), sin.to(n.dtype))
        k = r1ref.apply_rope(proj("k_proj", Hkv), cos.to(n.dtype), sin.to(n.dtype))
        v = proj("v_proj", Hkv)
        if cache is not None:
            kc, vc = cache
            kc[:, :, start:start + T] = k
            vc[:, :, start:start + T] = v
            k_all, v_all = kc[:, :, :start + T], vc[:, :, :start + T]
        elif k_past is not None:
            k_all, v_all = torch.cat([k_past, k], 2), torch.cat([v_past, v], 2)
        else:
            k_all, v_all = k, v
        # [N, Hkv, rep, T, hd] x [N, Hkv, 1, hd, S]: query head h reads kv head h // rep.
        qg = (q * hd ** -0.5).view(N, Hkv, rep, T, hd)
        scores = torch.matmul(qg, k_all.to(qg.dtype).transpose(-1, -2)[:, :, None])
        if mask is not None:
            scores = scores + mask.to(scores.dtype)
        o = torch.matmul(torch.softmax(scores, -1), v_all.to(qg.dtype)[:, :, None])
        o = o.view(N, c.heads, T, hd).transpose(1, 2).reshape(N, T, -1)
        return F.linear(o, p[pre + "o_proj.weight"]), (k, v)

    def head(self):
        return self.p["model.embed_tokens.weight"] if self.c.tie else self.p["lm_head.weight"]


def token_logp(h, targets, head, temperature):
    """log softmax(h @ head^T / T)[target] for rows h [n, D]."""
    logits = F.linear(h, head) / temperature
    return logits.gather(-1, targets[:, None])[:, 0] - torch.logsumexp(logits, -1)


def chunked_logp(h, targets, head, temperature, chunk):
    """token_logp over rows in chunks; with grad, each chunk is checkpointed (its logits are
    recomputed in the backward instead of kept)."""
    out = []
    for i in range(0, h.shape[0], chunk):
        hs, ts = h[i:i + chunk], targets[i:i + chunk]
        if torch.is_grad_enabled():
            out.append(torch.utils.checkpoint.checkpoint(token_logp, hs, ts, head, temperature,
                                                         use_reentrant=False))
        else:
            out.append(token_logp(hs, ts, head, temperature))
    return torch.cat(out)


def rollout(model, prompts, a, dtype):
    """(completions [B*G, C], sampler log-probs [B*G, C]); sample i belongs to prompt i // G."""
    c = model.c
    B, P = prompts.shape
    G, C = a.group, a.new_tokens
    N = B * G
    kv_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    cache = [(torch.empty(N, c.kv_heads, P + C, c.head_dim, dtype=kv_dtype),
              torch.empty(N, c.kv_heads, P + C, c.head_dim, dtype=kv_dtype))
             for _ in range(c.layers)]
    out = torch.empty(N, C, dtype=torch.long)
    logps = torch.empty(N, C)
    ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16"
           else torch.autocast("cpu", enabled=False))
    head = model.head()
    with torch.no_grad(), ctx:
        h, kv = model.run(prompts, 0)  # each prompt once
        for (kc, vc), (k, v) in zip(cache, kv):
            kc[:, :, :P] = k.repeat_interleave(G, 0)
            vc[:, :, :P] = v.repeat_interleave(G, 0)
        last = h[:, -1].repeat_interleave(G, 0)
        for t in range(C):
            lp = torch.log_softmax(F.linear(last, head).float() / a.temperature, -1)
            tok = torch.multinomial(lp.exp(), 1)[:, 0]
            out[:, t], logps[:, t] = tok, lp.gather(-1, tok[:, None])[:, 0]
            if t + 1 < C:
                last = model.run(tok[:, None], P + t, cache=cache)[0][:, 0]
    return out, logps


def advantages(rewards, G):
    r = rewards.view(-1, G)
    adv = (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)
    equal = (r == r[:, :1]).all(1, keepdim=True)
    return torch.where(equal, torch.zeros_like(adv), adv).reshape(-1)


def micro_batches(samples, G, size):
    """The samples (indices) grouped by prompt (i // G), each group cut into runs of `size`."""
    by_prompt = {}
    for i in sorted(samples, key=lambda i: i // G):
        by_prompt.setdefault(i // G, []).append(i)
    return [(b, idx[j:j + size]) for b, idx in by_prompt.items()
            for j in range(0, len(idx), size)]


def completion_logp(model, prompts, comps, b, idx, a):
    """Log-probs [len(idx), C] of the completions idx of prompt b: the prompt's first P-1 tokens
    run once, then each sample's continuation (last prompt token + completion[:-1]) attends to
    them. Differentiable when grad is on."""
    P, C = prompts.shape[1], comps.shape[1]
    m = len(idx)
    _, kv = model.run(prompts[b:b + 1, :P - 1], 0)
    past = [(k.expand(m, -1, -1, -1), v.expand(m, -1, -1, -1)) for k, v in kv]
    cont = torch.cat([prompts[b:b + 1, P - 1:].expand(m, 1), comps[idx, :C - 1]], 1)
    h, _ = model.run(cont, P - 1, past=past)
    lp = chunked_logp(h.reshape(m * C, -1), comps[idx].reshape(-1), model.head(), a.temperature,
                      a.chunk)
    return lp.view(m, C)


def all_logp(model, prompts, comps, a):
    with torch.no_grad():
        out = torch.empty(comps.shape)
        for b, idx in micro_batches(range(comps.shape[0]), a.group, a.group):
            out[idx] = completion_logp(model, prompts, comps, b, idx, a)
    return out


def grpo_step(model, ref, opt, params, prompts, gen, a):
    """One step; returns its timings and counts."""
    G, C = a.group, a.new_tokens
    t0 = time.perf_counter()
    comps, sampler_logp = rollout(model, prompts, a, a.rollout_dtype)
    rewards = torch.randint(0, 2, (comps.shape[0],), generator=gen).float() * 2 - 1
    adv = advantages(rewards, G)
    t1 = time.perf_counter()
    ref_logp = all_logp(ref, prompts, comps, a) if a.beta > 0 else None
    old_logp = all_logp(model, prompts, comps, a) if a.rollout_dtype == "bf16" else sampler_logp
    t2 = time.perf_counter()
    n = comps.shape[0]
    train_tokens, losses, norms = 0, [], []
    for epoch in range(a.mu):
        perm = torch.randperm(n, generator=gen) if a.mu > 1 or a.mini_batches > 1 else torch.arange(n)
        per = math.ceil(n / a.mini_batches)
        for m0 in range(0, n, per):
            mb = perm[m0:m0 + per].tolist()
            # seq-mean: each sequence's token mean, averaged; token-mean: over all tokens.
            weight = 1.0 / (C * len(mb))  # the two agree: every completion has C tokens
            opt.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for b, idx in micro_batches(mb, G, a.micro_batch):
                lp = completion_logp(model, prompts, comps, b, idx, a)
                A = adv[idx][:, None]
                ratio = torch.exp(torch.clamp(lp - old_logp[idx], -CLAMP, CLAMP))
                pg = -torch.min(ratio * A, torch.clamp(ratio, 1 - a.eps_low, 1 + a.eps_high) * A)
                if ref_logp is not None:
                    d = torch.clamp(ref_logp[idx] - lp, -CLAMP, CLAMP)
                    pg = pg + a.beta * (torch.exp(d) - d - 1)
                loss = pg.sum() * weight
                loss.backward()
                loss_sum += loss.item()
                train_tokens += prompts.shape[1] + len(idx) * C
            if a.grad_clip > 0:
                norms.append(torch.nn.utils.clip_grad_norm_(params, a.grad_clip).item())
            opt.step()
            losses.append(loss_sum)
    t3 = time.perf_counter()
    return {"rollout_s": t1 - t0, "ref_s": t2 - t1, "update_s": t3 - t2, "step_s": t3 - t0,
            "gen_tokens": comps.numel(), "train_tokens": train_tokens,
            "loss": sum(losses) / len(losses), "grad_norm": sum(norms) / max(1, len(norms))}


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = r1ref.Config.from_dict({
        "architectures": ["Qwen2ForCausalLM"], "vocab_size": a.vocab, "hidden_size": a.hidden,
        "intermediate_size": a.ffn, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "head_dim": a.head_dim, "rope_theta": a.theta,
        "rms_norm_eps": a.rms_eps, "tie_word_embeddings": True})
    params = r1ref.init_params(cfg, seed=a.seed)
    ref = Decoder(cfg, {k: t.clone() for k, t in params.items()}) if a.beta > 0 else None
    for t in params.values():
        t.requires_grad_(True)
    model = Decoder(cfg, params)
    plist = list(params.values())
    # r1 zero's recipe has no weight decay; foreach=False keeps AdamW from allocating whole
    # parameter-sized temporaries.
    opt = torch.optim.AdamW(plist, lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8, weight_decay=0.0,
                            foreach=False)
    gen = torch.Generator().manual_seed(a.seed + 1)
    prompts = torch.randint(a.vocab, (a.prompts, a.prompt_len), generator=gen)

    runs = []
    for i in range(a.warmup + a.steps):
        r = grpo_step(model, ref, opt, plist, prompts, gen, a)
        print(f"torch_grpo_step: step {i + 1}{' (warm-up)' if i < a.warmup else ''}: "
              f"{r['step_s']:.2f} s (rollout {r['rollout_s']:.2f}, ref/old {r['ref_s']:.2f}, "
              f"update {r['update_s']:.2f})", file=sys.stderr)
        if i >= a.warmup:
            runs.append(r)

    def mean(key):
        return sum(r[key] for r in runs) / len(runs)

    rollout_s, update_s = mean("rollout_s"), mean("update_s")
    print(json.dumps({
        "params": sum(t.numel() for t in plist), "B": a.prompts, "G": a.group,
        "prompt_len": a.prompt_len, "new_tokens": a.new_tokens, "beta": a.beta,
        "rollout_dtype": a.rollout_dtype, "steps": len(runs), "warmup": a.warmup,
        "rollout_s": round(rollout_s, 3), "ref_s": round(mean("ref_s"), 3),
        "update_s": round(update_s, 3), "step_s": round(mean("step_s"), 3),
        "rollout_tokens_per_s": round(mean("gen_tokens") / rollout_s, 1),
        "update_tokens_per_s": round(mean("train_tokens") / update_s, 1),
        "loss": round(mean("loss"), 6), "grad_norm": round(mean("grad_norm"), 6),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": a.threads, "torch": torch.__version__, "blas_core": blas_core()}))


def blas_core():
    """OpenBLAS's kernel set as it reports it ("Cooperlake", ...), or "" for another BLAS."""
    try:
        get = ctypes.CDLL("libblas.so.3").openblas_get_corename
    except (OSError, AttributeError):
        return ""
    get.restype = ctypes.c_char_p
    return get().decode().strip()


if __name__ == "__main__":
    main()
