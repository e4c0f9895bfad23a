#!/usr/bin/python3
"""PyTorch oracle for r1.cpp: Llama / Qwen2 / Qwen3 decoder-only models on packed batches.

Written from the math with Hugging Face semantics and parameter names; it needs only torch and
numpy (no transformers, no safetensors package). Run it with Debian's /usr/bin/python3.

  grads  --model DIR --batch BATCH.json --out OUT.safetensors [--dtype float64|float32]
  adamw  --model DIR --batch BATCH.json --out OUT.json --steps N --lrs LR0,LR1,...
         --beta1 B1 --beta2 B2 --eps E --weight-decay WD --clip C [--dtype float64|float32]
  init   --config CONFIG.json --out DIR --seed S [--std 0.02]
  rm     --model DIR --batch PAIRS.json --out OUT.safetensors

PAIRS.json (rm: a reward model, *ForSequenceClassification with score.weight) = {"tokens",
"cu_seqlens", "margins": [...], "center": c}: sequences 2i and 2i+1 are pair i's chosen and
rejected; each sequence's score is score.weight . (final-normed hidden state of its last token);
loss = mean over pairs of -log sigmoid(r_c - r_r - margin) + c * mean over pairs of (r_c + r_r)^2
(TRL's RewardTrainer with center_rewards_coefficient). Writes scores, loss and grad.NAME.

BATCH.json = {"tokens": [...], "cu_seqlens": [0, len0, len0+len1, ..., T], "targets": [...],
"weights": [...]}: sequences packed back to back, each attending causally only within itself,
positions restarting at 0; loss = sum_t weights[t] * -log p(targets[t] | logits[t]).
"""
import argparse
import json
import math
import os
import struct
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


class RefError(Exception):
    """Bad input; the CLI prints it as one line on stderr and exits 1."""


# ---------------------------------------------------------------- safetensors
# Layout: u64 little-endian header length N, N bytes of JSON, then raw little-endian data.
_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def load_safetensors(path):
    """{name: tensor}; BF16 is widened to float32 (exact), other dtypes keep their type."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise RefError(f"{path}: not a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        (begin, end), shape, dt = info["data_offsets"], info["shape"], info["dtype"]
        raw = data[begin:end]
        if dt == "BF16":  # bf16 is the upper half of an fp32: shift the bits up
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt in _NP:
            arr = np.frombuffer(raw, _NP[dt])
        else:
            raise RefError(f"{path}: tensor {name} has unsupported dtype {dt}")
        if arr.size != math.prod(shape):
            raise RefError(f"{path}: tensor {name} size does not match shape {shape}")
        out[name] = torch.from_numpy(arr.reshape(shape).copy())
    return out


def save_safetensors(path, tensors, dtype="F32", metadata=None):
    """Writes every tensor as `dtype` (F64, F32, F16 or BF16; BF16 rounds to nearest even)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = t.detach().cpu().double().numpy()
        if dtype == "BF16":
            u = a.astype("<f4").view(np.uint32).astype(np.uint64)
            buf = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()
        else:
            buf = a.astype(_NP[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(buf)]}
        chunks.append(buf)
        offset += len(buf)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # keeps the data section 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for buf in chunks:
            f.write(buf)


# ---------------------------------------------------------------- config and parameters
ARCHS = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM")
# Reward models: the same transformer with score.weight (num_labels = 1) instead of lm_head.
SCORE_ARCHS = {"LlamaForSequenceClassification": "LlamaForCausalLM",
               "Qwen2ForSequenceClassification": "Qwen2ForCausalLM",
               "Qwen3ForSequenceClassification": "Qwen3ForCausalLM"}


@dataclass
class Config:
    arch: str
    vocab: int
    dim: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    theta: float
    tie: bool
    qkv_bias: bool
    qk_norm: bool
    score: bool = False  # a reward model: score.weight (1, dim), no lm_head

    @staticmethod
    def from_dict(c):
        try:
            arch = c["architectures"][0]
            score = arch in SCORE_ARCHS
            if score:
                labels = c.get("num_labels", len(c.get("id2label") or {}) or 2)
                if labels != 1:
                    raise RefError(f"config: a reward model needs num_labels 1, got {labels}")
                arch = SCORE_ARCHS[arch]
            if arch not in ARCHS:
                raise RefError(f"config: unsupported architecture {arch}")
            if c.get("rope_scaling"):  # refuse rather than silently compute the wrong RoPE
                raise RefError("config: rope_scaling is not supported")
            heads = c["num_attention_heads"]
            cfg = Config(arch=arch, vocab=c["vocab_size"], dim=c["hidden_size"],
                         ffn=c["intermediate_size"], layers=c["num_hidden_layers"], heads=heads,
                         kv_heads=c.get("num_key_value_heads") or heads,
                         head_dim=c.get("head_dim") or c["hidden_size"] // heads,
                         eps=float(c.get("rms_norm_eps", 1e-6)),
                         theta=float(c.get("rope_theta", 10000.0)),
                         tie=bool(c.get("tie_word_embeddings", False)),
                         qkv_bias=arch == "Qwen2ForCausalLM" or bool(c.get("attention_bias", False)),
                         qk_norm=arch == "Qwen3ForCausalLM", score=score)
        except (KeyError, IndexError, TypeError) as e:
            raise RefError(f"config: missing or malformed key {e}") from None
        if cfg.heads % cfg.kv_heads or cfg.head_dim % 2:
            raise RefError("config: heads must be a multiple of kv heads and head_dim even")
        return cfg


def param_shapes(cfg):
    """Ordered {HF parameter name: shape}."""
    D, F_, hd, V = cfg.dim, cfg.ffn, cfg.head_dim, cfg.vocab
    q, kv = cfg.heads * hd, cfg.kv_heads * hd
    s = {"model.embed_tokens.weight": (V, D)}
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = (D,)
        for name, rows in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
            s[p + f"self_attn.{name}.weight"] = (rows, D)
            if cfg.qkv_bias:
                s[p + f"self_attn.{name}.bias"] = (rows,)
        s[p + "self_attn.o_proj.weight"] = (D, q)
        if cfg.qk_norm:
            s[p + "self_attn.q_norm.weight"] = (hd,)
            s[p + "self_attn.k_norm.weight"] = (hd,)
        s[p + "post_attention_layernorm.weight"] = (D,)
        s[p + "mlp.gate_proj.weight"] = (F_, D)
        s[p + "mlp.up_proj.weight"] = (F_, D)
        s[p + "mlp.down_proj.weight"] = (D, F_)
    s["model.norm.weight"] = (D,)
    if cfg.score:
        s["score.weight"] = (1, D)
    elif not cfg.tie:
        s["lm_head.weight"] = (V, D)
    return s


def init_params(cfg, seed, std=0.02, dtype=torch.float32):
    """Random weights: matrices N(0, std); norm weights 1 + 0.1 N (non-trivial); biases 0.1 N.
    Drawn in float32 so the in-memory and the written F32 model hold identical values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in param_shapes(cfg).items():
        r = torch.randn(shape, generator=g, dtype=torch.float32)
        if name.endswith("norm.weight"):
            r = 1 + 0.1 * r
        elif name.endswith(".bias"):
            r = 0.1 * r
        else:
            r = std * r
        out[name] = r.to(dtype)
    return out


def load_model(model_dir, dtype=torch.float64):
    """(cfg, {name: leaf tensor requiring grad}) from DIR/config.json and DIR/model.safetensors."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config.from_dict(json.load(f))
    stored = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    params = {}
    for name, shape in param_shapes(cfg).items():
        if name not in stored:
            raise RefError(f"model: missing tensor {name}")
        if tuple(stored[name].shape) != shape:
            raise RefError(f"model: tensor {name} has shape {list(stored[name].shape)}, "
                           f"expected {list(shape)}")
        params[name] = stored[name].to(dtype).requires_grad_(True)
    return cfg, params


# ---------------------------------------------------------------- model
def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(positions, head_dim, theta, dtype):
    """cos, sin [B, 1, T, hd] for HF's rotate-half layout (frequency j pairs dims j and j+hd/2).
    Angles are computed in float64 whatever the compute dtype."""
    inv_freq = theta ** (-2.0 * torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)
    ang = positions[..., None].double() * inv_freq
    ang = torch.cat([ang, ang], -1)[:, None]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x, cos, sin):
    """x [B, H, T, hd] -> cat(x1 cos - x2 sin, x2 cos + x1 sin) with x1, x2 the two halves."""
    x1, x2 = x.chunk(2, -1)
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Model:
    """Functional decoder over a {HF name: tensor} dict, so names match checkpoints exactly."""

    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params

    def parameters(self):
        return list(self.p.values())

    def forward(self, tokens, positions, mask):
        """tokens [B, T]; positions [B or 1, T]; mask additive (0 / -inf) broadcastable to
        [B, H, T, T]. Returns logits [B, T, V]."""
        c, p = self.cfg, self.p
        head = p["model.embed_tokens.weight"] if c.tie else p["lm_head.weight"]
        return F.linear(self.hidden(tokens, positions, mask), head)

    def hidden(self, tokens, positions, mask):
        """The final-normed hidden states [B, T, dim]."""
        c, p = self.cfg, self.p
        x = F.embedding(tokens, p["model.embed_tokens.weight"])
        cos, sin = rope_tables(positions, c.head_dim, c.theta, x.dtype)
        for i in range(c.layers):
            pre = f"model.layers.{i}."
            n = rms_norm(x, p[pre + "input_layernorm.weight"], c.eps)
            x = x + self.attention(n, pre + "self_attn.", cos, sin, mask)
            n = rms_norm(x, p[pre + "post_attention_layernorm.weight"], c.eps)
            gate = F.linear(n, p[pre + "mlp.gate_proj.weight"])
            up = F.linear(n, p[pre + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(gate) * up, p[pre + "mlp.down_proj.weight"])
        return rms_norm(x, p["model.norm.weight"], c.eps)

    def attention(self, n, pre, cos, sin, mask):
        c, p = self.cfg, self.p
        B, T, _ = n.shape

        def proj(name, heads):
            y = F.linear(n, p[pre + name + ".weight"], p.get(pre + name + ".bias"))
            return y.view(B, T, heads, c.head_dim)

        q, k, v = proj("q_proj", c.heads), proj("k_proj", c.kv_heads), proj("v_proj", c.kv_heads)
        if c.qk_norm:  # Qwen3: per-head RMSNorm over head_dim, before RoPE
            q = rms_norm(q, p[pre + "q_norm.weight"], c.eps)
            k = rms_norm(k, p[pre + "k_norm.weight"], c.eps)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = c.heads // c.kv_heads
        if rep > 1:  # query head h reads kv head h // rep
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        # Scaling q (T*hd values) is cheaper than scaling the T*T scores.
        scores = torch.matmul(q * c.head_dim ** -0.5, k.transpose(-1, -2)) + mask
        o = torch.matmul(torch.softmax(scores, -1), v)
        return F.linear(o.transpose(1, 2).reshape(B, T, -1), p[pre + "o_proj.weight"])


def causal_mask(T, dtype, segments=None):
    """Additive [T, T] mask: key j visible to query i iff j <= i (and same segment if given)."""
    i = torch.arange(T)
    ok = i[:, None] >= i[None, :]
    if segments is not None:
        ok &= segments[:, None] == segments[None, :]
    return torch.zeros(T, T, dtype=dtype).masked_fill(~ok, float("-inf"))


def packed_inputs(cu_seqlens, dtype):
    """positions [1, T] restarting at each sequence start, mask [1, 1, T, T] for packed rows."""
    cu = torch.as_tensor(cu_seqlens, dtype=torch.long)
    seg = torch.repeat_interleave(torch.arange(len(cu) - 1), cu.diff())
    pos = torch.arange(len(seg)) - cu[seg]
    return pos[None], causal_mask(len(seg), dtype, seg)[None, None]


def token_stats(logits, targets):
    """logp [T] of the targets and entropy [T] of softmax(logits [T, V]); a target of -1 means
    "no target" and gives logp = entropy = 0, as in the engine."""
    lp = torch.log_softmax(logits, -1)
    has = targets >= 0
    logp = lp.gather(-1, targets.clamp(min=0)[:, None])[:, 0]
    ent = -(lp.exp() * lp).sum(-1)
    return torch.where(has, logp, torch.zeros_like(logp)), torch.where(has, ent, torch.zeros_like(ent))


def load_batch(path, cfg, dtype):
    with open(path) as f:
        b = json.load(f)
    try:
        tokens, cu, targets, weights = b["tokens"], b["cu_seqlens"], b["targets"], b["weights"]
    except KeyError as e:
        raise RefError(f"batch: missing key {e}") from None
    T = len(tokens)
    if T == 0 or len(targets) != T or len(weights) != T:
        raise RefError("batch: tokens, targets and weights must be non-empty and equally long")
    if cu[0] != 0 or cu[-1] != T or any(hi < lo for lo, hi in zip(cu, cu[1:])):
        raise RefError("batch: cu_seqlens must rise from 0 to len(tokens)")
    if any(not 0 <= t < cfg.vocab for t in tokens) or any(not -1 <= t < cfg.vocab for t in targets):
        raise RefError("batch: token or target id out of vocabulary range")
    return {"tokens": torch.tensor(tokens, dtype=torch.long), "cu_seqlens": cu,
            "targets": torch.tensor(targets, dtype=torch.long),
            "weights": torch.tensor(weights, dtype=dtype)}


def run_batch(model, batch):
    """(logits [T, V], logp [T], entropy [T], loss scalar) for one packed batch."""
    pos, mask = packed_inputs(batch["cu_seqlens"], batch["weights"].dtype)
    logits = model.forward(batch["tokens"][None], pos, mask)[0]
    logp, ent = token_stats(logits, batch["targets"])
    return logits, logp, ent, -(batch["weights"] * logp).sum()


# ---------------------------------------------------------------- CLI
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def cmd_grads(a):
    dtype = DTYPES[a.dtype]
    cfg, params = load_model(a.model, dtype)
    logits, logp, ent, loss = run_batch(Model(cfg, params), load_batch(a.batch, cfg, dtype))
    loss.backward()
    out = {"logits": logits, "logp": logp, "entropy": ent, "loss": loss.reshape(1)}
    for name, t in params.items():
        out["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    save_safetensors(a.out, out, "F64" if dtype == torch.float64 else "F32")


def cmd_adamw(a):
    dtype = DTYPES[a.dtype]
    cfg, params = load_model(a.model, dtype)
    batch, model = load_batch(a.batch, cfg, dtype), Model(cfg, params)
    lrs = [float(x) for x in a.lrs.split(",")]
    if len(lrs) == 1:
        lrs *= a.steps
    if len(lrs) != a.steps:
        raise RefError(f"--lrs has {len(lrs)} values for {a.steps} steps")
    plist = model.parameters()
    # Weight decay only on matrices (>= 2 dims); norm weights and biases are not decayed.
    groups = [{"params": [t for t in plist if t.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [t for t in plist if t.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(a.beta1, a.beta2), eps=a.eps)
    losses, norms = [], []
    for lr in lrs:
        opt.zero_grad(set_to_none=True)
        loss = run_batch(model, batch)[3]
        loss.backward()
        # Same reduction as clip_grad_norm_: 2-norm of the per-tensor 2-norms.
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.grad)
                                                     for t in plist]))
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(plist, a.clip)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
    with open(a.out, "w") as f:
        json.dump({"losses": losses, "grad_norms": norms}, f)
    save_safetensors(os.path.splitext(a.out)[0] + ".safetensors", params, "F64")


def cmd_rm(a):
    dtype = DTYPES[a.dtype]
    cfg, params = load_model(a.model, dtype)
    if not cfg.score:
        raise RefError("rm: the model has no score head (a *ForSequenceClassification config)")
    with open(a.batch) as f:
        b = json.load(f)
    tokens, cu, margins, center = b["tokens"], b["cu_seqlens"], b["margins"], float(b["center"])
    if len(cu) - 1 != 2 * len(margins) or cu[0] != 0 or cu[-1] != len(tokens):
        raise RefError("rm: cu_seqlens must hold two sequences (chosen, rejected) per margin")
    if any(hi <= lo for lo, hi in zip(cu, cu[1:])):
        raise RefError("rm: every sequence must be non-empty")
    pos, mask = packed_inputs(cu, dtype)
    h = Model(cfg, params).hidden(torch.tensor(tokens, dtype=torch.long)[None], pos, mask)[0]
    last = torch.tensor(cu[1:], dtype=torch.long) - 1
    scores = F.linear(h[last], params["score.weight"])[:, 0]  # HF: the score at the last token
    rc, rr = scores[0::2], scores[1::2]
    m = torch.tensor(margins, dtype=dtype)
    loss = -F.logsigmoid(rc - rr - m).mean() + center * ((rc + rr) ** 2).mean()
    loss.backward()
    out = {"scores": scores, "loss": loss.reshape(1)}
    for name, t in params.items():
        out["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    save_safetensors(a.out, out, "F64" if dtype == torch.float64 else "F32")


def cmd_init(a):
    with open(a.config) as f:
        raw = json.load(f)
    cfg = Config.from_dict(raw)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(raw, f, indent=2)
    save_safetensors(os.path.join(a.out, "model.safetensors"),
                     init_params(cfg, a.seed, a.std), "F32")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("grads", "adamw", "rm"):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True)
        s.add_argument("--batch", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--dtype", choices=DTYPES, default="float64")
    s = sub.choices["adamw"]
    s.add_argument("--steps", type=int, required=True)
    s.add_argument("--lrs", required=True, help="comma-separated, one per step (or one for all)")
    for opt in ("--beta1", "--beta2", "--eps", "--weight-decay", "--clip"):
        s.add_argument(opt, type=float, required=True)
    s = sub.add_parser("init")
    s.add_argument("--config", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--std", type=float, default=0.02)
    a = ap.parse_args(argv)
    try:
        {"grads": cmd_grads, "adamw": cmd_adamw, "init": cmd_init, "rm": cmd_rm}[a.cmd](a)
    except (RefError, OSError, ValueError, KeyError) as e:
        print(f"r1ref {a.cmd}: {e}".replace("\n", " "), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
