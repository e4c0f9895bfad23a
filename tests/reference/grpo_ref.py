#!/usr/bin/python3
"""PyTorch (float64) oracle for r1.cpp's GRPO loss: equations (1)-(3) of ../shared/docs/R1-NOTES.md
written with torch ops on padded [outputs, tokens] tensors (the way TRL's GRPOTrainer writes them),
gradients by autograd. The model is r1ref's.

  grpo_ref.py --model DIR --batch GRPO.json --out OUT.safetensors

GRPO.json = {"tokens", "cu_seqlens", "targets": packed prompt+completion sequences as in r1ref
(prompt positions have target -1), "old_logp", "ref_logp": per position (ignored where target is
-1), optionally "is_weight" (per position), "rewards": one per sequence, group by group,
"group_size", "truncated": 0/1 per sequence, "configs": [{"name", "eps_low", "eps_high", "beta",
"agg": "seq_mean"|"token_mean"|"constant", "scale_rewards", "std_eps", "mask_truncated",
"entropy_coef", "max_new_tokens"} and optionally "loss_type": "grpo" (default)|"gspo"|"cispo",
"clip_ratio_c" (dual clip, 0 = off), "tis" (multiply the policy term by "is_weight"),
"temperature" (1), "vocab" (0 = all: the head is softmax(logits[:, :vocab] / temperature)),
"distill_coef" (on-policy distillation, needs --teacher DIR: each token's advantage gains
distill_coef * (log pi_teacher - old_logp), the teacher's log-prob under the same head,
detached), ...]}.

OUT holds "logp", "entropy" (per position, of the last config's head) and, per config NAME:
"NAME.logp", "NAME.entropy", "NAME.loss", "NAME.advantages", "NAME.clipped_low",
"NAME.clipped_high", "NAME.clipped_dual" (token counts), "NAME.max_abs_log_ratio" and
"NAME.grad.<param>".

Log-ratios and the KL's exponent are clamped to [-20, 20] before exp (torch.clamp: no gradient
outside). GSPO's ratio is s = exp(clamp(mean over the output's tokens of (logp - old_logp))),
broadcast to its tokens (autograd through the mean); with "tis" each token uses GSPO-token's
s_t = exp(sg(log s) + logp_t - sg(logp_t)) instead (the same value, gradient through logp_t only).
CISPO's term is -sg(clamp(rho, 1 - eps_low, 1 + eps_high)) * A * logp.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import r1ref  # noqa: E402


def advantages(rewards, group_size, scale, std_eps):
    """(3): per group, (r - mean) / (std + eps) with torch.std (unbiased, n - 1), or r - mean.
    A group whose rewards are all equal gets 0 (std would be 0 or NaN for a group of one)."""
    r = rewards.view(-1, group_size)
    a = r - r.mean(1, keepdim=True)
    if scale:
        sd = r.std(1, keepdim=True) if group_size > 1 else torch.zeros_like(a[:, :1])
        a = a / (sd + std_eps)
    equal = (r == r[:, :1]).all(1, keepdim=True)
    return torch.where(equal, torch.zeros_like(a), a).reshape(-1)


def padded(values, rows, width):
    """[N, width] tensor with row i = values[rows[i]] followed by zeros."""
    out = []
    for idx in rows:
        v = values[idx] if len(idx) else values.new_zeros(0)
        out.append(torch.cat([v, v.new_zeros(width - len(idx))]))
    return torch.stack(out)


CLAMP = 20.0


def grpo_loss(c, logp, ent, old, ref, isw, adv, rows, truncated, tadv=None):
    """The objective's negation for one config; logp/ent/old/ref/isw/tadv per packed position."""
    n = len(rows)
    width = max(1, max(len(r) for r in rows))
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.float64)
    tokens = (torch.arange(width)[None, :] < lengths[:, None]).double()
    mask = tokens
    if c["mask_truncated"]:
        mask = mask * (1 - truncated)[:, None]
    lp, en = padded(logp, rows, width), padded(ent, rows, width)
    old_p, ref_p = padded(old, rows, width), padded(ref, rows, width)
    A = adv[:, None]
    if tadv is not None:
        A = A + padded(tadv, rows, width)
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    kind, dual, tis = c.get("loss_type", "grpo"), c.get("clip_ratio_c", 0), c.get("tis", False)
    log_ratio = lp - old_p
    if kind == "gspo":
        mean = (log_ratio * tokens).sum(1) / lengths.clamp(min=1)
        if tis:
            x = mean.detach()[:, None] + lp - lp.detach()
        else:
            x = mean[:, None].expand(-1, width)
        ratio = torch.exp(torch.clamp(x, -CLAMP, CLAMP))
    else:
        ratio = torch.exp(torch.clamp(log_ratio, -CLAMP, CLAMP))
    clipped = torch.clamp(ratio, lo, hi)
    if kind == "cispo":
        if dual:
            raise r1ref.RefError(f"config {c['name']}: no dual clip with cispo")
        pg = -clipped.detach() * A * lp
    elif kind in ("grpo", "gspo"):
        pg = -torch.min(ratio * A, clipped * A)
        if dual:
            pg = torch.where(A < 0, torch.min(pg, -dual * A), pg)
    else:
        raise r1ref.RefError(f"config {c['name']}: unknown loss_type {kind}")
    if tis:
        pg = pg * padded(isw, rows, width)
    per_tok = pg
    if c["beta"] != 0:
        d = torch.clamp(ref_p - lp, -CLAMP, CLAMP)
        per_tok = per_tok + c["beta"] * (torch.exp(d) - d - 1)
    kept = mask.sum(1) > 0
    n_kept = kept.sum()

    def aggregate(x):
        if c["agg"] == "seq_mean":
            per_seq = (x * mask).sum(1) / mask.sum(1).clamp(min=1)
            return per_seq[kept].sum() / n_kept
        if c["agg"] == "token_mean":
            return (x * mask).sum() / mask.sum()
        if c["agg"] == "constant":
            return (x * mask).sum() / (c["max_new_tokens"] * n_kept)
        raise r1ref.RefError(f"config {c['name']}: unknown agg {c['agg']}")

    loss = aggregate(per_tok)
    if c["entropy_coef"] != 0:
        loss = loss - c["entropy_coef"] * aggregate(en)
    with torch.no_grad():
        active = mask > 0
        if kind == "cispo":  # the weight was capped (whatever the sign of A)
            low = ((ratio < lo) & active).sum()
            high = ((ratio > hi) & active).sum()
        else:
            low = ((A < 0) & (ratio < lo) & active).sum()
            high = ((A > 0) & (ratio > hi) & active).sum()
        dual_hit = torch.zeros((), dtype=torch.long)
        if dual:
            first = -torch.min(ratio * A, clipped * A)
            dual_hit = ((A < 0) & (first > -dual * A) & active).sum()
        max_lr = torch.where(active, log_ratio.abs(), torch.zeros_like(log_ratio)).max()
    assert n == len(truncated)
    stats = {"clipped_low": low, "clipped_high": high, "clipped_dual": dual_hit, "max_abs_log_ratio": max_lr}
    return loss, stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--teacher", help="the teacher model of on-policy distillation configs")
    a = ap.parse_args(argv)
    try:
        dt = torch.float64
        cfg, params = r1ref.load_model(a.model, dt)
        model = r1ref.Model(cfg, params)
        teacher = None
        if a.teacher:
            tcfg, tparams = r1ref.load_model(a.teacher, dt)
            teacher = r1ref.Model(tcfg, tparams)
        with open(a.batch) as f:
            b = json.load(f)
        tokens = torch.tensor(b["tokens"], dtype=torch.long)
        targets = torch.tensor(b["targets"], dtype=torch.long)
        cu = b["cu_seqlens"]
        old = torch.tensor(b["old_logp"], dtype=dt)
        ref = torch.tensor(b["ref_logp"], dtype=dt)
        isw = torch.tensor(b["is_weight"], dtype=dt) if "is_weight" in b else None
        rewards = torch.tensor(b["rewards"], dtype=dt)
        truncated = torch.tensor(b["truncated"], dtype=dt)
        if len(cu) - 1 != len(rewards) or len(truncated) != len(rewards):
            raise r1ref.RefError("batch: one reward and one truncation flag per sequence")
        # Completion positions of each sequence: those with a target.
        rows = [[t for t in range(cu[i], cu[i + 1]) if b["targets"][t] >= 0] for i in range(len(cu) - 1)]
        pos, mask = r1ref.packed_inputs(cu, dt)
        out = {}
        for c in b["configs"]:
            for p in params.values():
                p.grad = None
            if c.get("tis", False) and isw is None:
                raise r1ref.RefError(f"config {c['name']}: tis without is_weight")
            logits = model.forward(tokens[None], pos, mask)[0]
            vocab = c.get("vocab", 0)
            if vocab:
                logits = logits[:, :vocab]
            logits = logits / c.get("temperature", 1.0)
            logp, ent = r1ref.token_stats(logits, targets)
            adv = advantages(rewards, b["group_size"], c["scale_rewards"], c["std_eps"])
            tadv = None
            if c.get("distill_coef", 0):
                if teacher is None:
                    raise r1ref.RefError(f"config {c['name']}: distill_coef without --teacher")
                with torch.no_grad():
                    tl = teacher.forward(tokens[None], pos, mask)[0]
                    if vocab:
                        tl = tl[:, :vocab]
                    tlogp, _ = r1ref.token_stats(tl / c.get("temperature", 1.0), targets)
                tadv = c["distill_coef"] * (tlogp - old)
                out[c["name"] + ".teacher_logp"] = tlogp
            loss, stats = grpo_loss(c, logp, ent, old, ref, isw, adv, rows, truncated, tadv)
            loss.backward()
            name = c["name"]
            out["logp"], out["entropy"] = logp.detach(), ent.detach()
            out[name + ".logp"], out[name + ".entropy"] = logp.detach(), ent.detach()
            out[name + ".loss"] = loss.detach().reshape(1)
            out[name + ".advantages"] = adv
            for k, v in stats.items():
                out[f"{name}.{k}"] = v.double().reshape(1)
            for pname, t in params.items():
                out[f"{name}.grad.{pname}"] = t.grad if t.grad is not None else torch.zeros_like(t)
        r1ref.save_safetensors(a.out, out, "F64")
    except (r1ref.RefError, OSError, ValueError, KeyError) as e:
        print(f"grpo_ref: {e}".replace("\n", " "), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
