"""Attention formulas: the MACs and element-wise work of fused scaled dot-product attention
kernels (flash, memory-efficient, cuDNN, the CPU flash kernel, the overrideable one; forward and
backward) and of PyTorch's inference fast paths (`_native_multi_head_attention`,
`_transformer_encoder_layer_fwd`), from their argument shapes.

Per (batch, query head) problem with Sq queries, Sk keys, head sizes D (query/key) and Dv:
- forward: QK^T = Sq*Sk*D MACs and P V = Sq*Sk*Dv MACs;
- backward: one product per operand gradient, each the size of the forward product it differs:
  dQ = dS K and dK = dS^T Q (Sq*Sk*D each), dP = dO V^T and dV = P^T dO (Sq*Sk*Dv each), so
  backward = 2 x forward when everything needs a gradient, as for any matmul. Flash kernels also
  recompute QK^T in the backward (keeping scores off memory); that recompute, like activation
  checkpointing, is not counted, so every kernel, and the unfused math path (which the counter
  sees as its bmm ops), gives the same counts;
- element-wise work is the math path's, whatever the kernel: q and k scaled by sqrt(scale)
  each, softmax over the Sq x Sk scores (plus the mask add, plus dropout), and in the backward
  the softmax gradient, the two scalings' gradients (and the dropout mask's; under grouped-query
  attention the repeated keys' and values' gradients summed back). Memory traffic does depend on the
  kernel: a fused kernel reads q, k, v and writes the output, never the scores; the math path
  (the meta device's, and the CPU's with dropout or some masks) writes and reads them;
- a causal mask is counted dense (its masked half computed), as torch.utils.flop_counter does;
- grouped-query attention (fewer key/value heads) counts every query head.
Pure functions of shapes; no dispatch, no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from energybench.cost.elementwise import Cost

# fused SDPA ops: forward, backward; BSHD = (batch, seq, heads, dim) layout, else (batch, heads, seq, dim)
aten = torch.ops.aten
FORWARD = {
    aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
    aten._scaled_dot_product_fused_attention_overrideable, aten._flash_attention_forward,
    aten._efficient_attention_forward,
}
BACKWARD = {
    aten._scaled_dot_product_flash_attention_for_cpu_backward, aten._scaled_dot_product_flash_attention_backward,
    aten._scaled_dot_product_efficient_attention_backward, aten._scaled_dot_product_cudnn_attention_backward,
    aten._scaled_dot_product_fused_attention_overrideable_backward, aten._flash_attention_backward,
    aten._efficient_attention_backward,
}
BSHD = {aten._flash_attention_forward, aten._efficient_attention_forward, aten._flash_attention_backward,
        aten._efficient_attention_backward}
FAST_PATH = {aten._native_multi_head_attention, aten._transformer_encoder_layer_fwd}


@dataclass(frozen=True)
class Attention:
    """One attention call, summed over its (batch, head) problems."""

    qk_macs: int
    pv_macs: int
    scores: int  # elements of the Sq x Sk score matrices
    rows: int  # softmax rows (one per query per problem)
    q_elems: int
    k_elems: int  # keys as the query heads see them (repeated under grouped-query attention)
    masked: bool
    dropout: bool
    k_repeats: int = 0  # grouped-query attention: key and value elements seen beyond those stored, whose
    v_repeats: int = 0  # gradients are summed back onto the stored ones
    shapes: tuple[tuple[int, int, int, int, int], ...] = ()  # (problems, Sq, Sk, D, Dv): one, or one per sequence

    def gemms(self, k_weight: bool = False, v_weight: bool = False) -> list[tuple[int, ...]]:
        """QK^T and P V as the counter's GEMM records (M, K, N, groups, A, B, C elements, B is a
        weight), for the memory-hierarchy model."""
        out = []
        for g, sq, sk, d, dv in self.shapes:
            out.append((sq, d, sk, g, g * sq * d, g * sk * d, g * sq * sk, int(k_weight)))
            out.append((sq, sk, dv, g, g * sq * sk, g * sk * dv, g * sq * dv, int(v_weight)))
        return out

    @property
    def macs(self) -> int:
        return self.qk_macs + self.pv_macs

    def forward_elementwise(self) -> Cost:
        s, r = self.scores, self.rows
        mults, adds = self.q_elems + self.k_elems + 2 * s, 3 * s - 2 * r  # scalings, softmax
        if self.masked:
            adds += s
        if self.dropout:
            mults, adds = mults + 2 * s, adds + s
        return mults, adds

    def backward_elementwise(self, needs: tuple[bool, bool, bool]) -> Cost:
        q_grad, k_grad, v_grad = needs
        s, r = self.scores, self.rows
        mults = s if self.dropout else 0  # the gradient through the dropout mask (scaled with it)
        adds = (self.k_repeats if k_grad else 0) + (self.v_repeats if v_grad else 0)
        if q_grad or k_grad:  # the score gradient: softmax's, then the two scalings'
            mults += 2 * s + (self.q_elems if q_grad else 0) + (self.k_elems if k_grad else 0)
            adds += 2 * s - r
        return mults, adds

    def backward_macs(self, needs: tuple[bool, bool, bool]) -> list[tuple[int, int]]:
        """(operand slot 0/1/2 = q/k/v or -1 = the probabilities P, MACs) of each gradient product."""
        q, k, v = needs
        out = [(0, self.qk_macs)] if q else []
        out += [(1, self.qk_macs)] if k else []
        out += [(-1, self.pv_macs)] if q or k else []  # dP: an activation gradient
        out += [(2, self.pv_macs)] if v else []
        return out


def _bind(func, args: tuple, kwargs: dict) -> dict:
    names = [a.name for a in func._schema.arguments]
    bound = dict(zip(names, args))
    bound.update(kwargs)
    return bound


def _lengths(cum, longest, device_known: bool) -> list[int]:
    if device_known and cum.device.type != "meta":
        return cum.diff().tolist()
    return [int(longest)] * (cum.numel() - 1)


def sdpa(func, args: tuple, kwargs: dict) -> Attention:
    """The attention a fused SDPA kernel (forward or backward) computes, from its arguments."""
    a = _bind(func, args, kwargs)
    q, k, v = a["query"], a["key"], a["value"]
    mask = next((a.get(n) for n in ("attn_mask", "attn_bias", "bias") if a.get(n) is not None), None)
    masked = mask is not None or bool(a.get("is_causal")) or bool(a.get("custom_mask_type"))
    dropout = float(a.get("dropout_p") or 0.0) > 0.0
    cum_q = a.get("cum_seq_q", a.get("cu_seqlens_q"))
    if func._overloadpacket in BSHD and q.dim() == 3 and cum_q is not None:  # variable-length sequences
        cum_k = a.get("cum_seq_k", a.get("cu_seqlens_k"))
        max_q, max_k = a.get("max_q", a.get("max_seqlen_q")), a.get("max_k", a.get("max_seqlen_k"))
        pairs = list(zip(_lengths(cum_q, max_q, True), _lengths(cum_k, max_k, True)))
        heads, d, dv = q.shape[1], q.shape[-1], v.shape[-1]
        qk = sum(heads * lq * lk * d for lq, lk in pairs)
        pv = sum(heads * lq * lk * dv for lq, lk in pairs)
        scores = sum(heads * lq * lk for lq, lk in pairs)
        rows = sum(heads * lq for lq, _ in pairs)
        keys = sum(heads * lk * d for _, lk in pairs)
        values = sum(heads * lk * dv for _, lk in pairs)
        return Attention(qk, pv, scores, rows, q.numel(), keys, masked, dropout, keys - k.numel(),
                         values - v.numel(), tuple((heads, lq, lk, d, dv) for lq, lk in pairs))
    if func._overloadpacket in BSHD:  # (batch, seq, heads, dim)
        problems, sq, sk = q.shape[0] * q.shape[2], q.shape[1], k.shape[1]
    else:  # (..., seq, dim)
        problems, sq, sk = math.prod(q.shape[:-2]), q.shape[-2], k.shape[-2]
    d, dv = q.shape[-1], v.shape[-1]
    # the keys and values as every query head sees them (grouped-query attention repeats them)
    keys, values = problems * sk * d, problems * sk * dv
    return Attention(problems * sq * sk * d, problems * sq * sk * dv, problems * sq * sk, problems * sq,
                     q.numel(), keys, masked, dropout, keys - k.numel(), values - v.numel(),
                     ((problems, sq, sk, d, dv),))


@dataclass(frozen=True)
class FastPath:
    """A whole inference-only attention (or encoder layer) kernel: MACs with weight operands
    (projections, MLP), MACs between activations (attention), element-wise work, and the
    activation elements it reads and writes."""

    weight_macs: int
    attention_macs: int
    elementwise: Cost
    in_elems: int
    out_elems: int
    gemms: tuple[tuple[int, ...], ...] = ()  # as the counter records them (see Attention.gemms)


def _linear(rows: int, cin: int, cout: int) -> tuple[int, ...]:
    """x (rows x cin) @ W^T (cin x cout), the weight second."""
    return (rows, cin, cout, 1, rows * cin, cin * cout, rows * cout, 1)


def _heads(b: int, h: int, lq: int, lk: int, e: int) -> tuple[tuple[int, ...], ...]:
    g, d = b * h, e // h
    return ((lq, d, lk, g, g * lq * d, g * lk * d, g * lq * lk, 0),
            (lq, lk, d, g, g * lq * lk, g * lk * d, g * lq * d, 0))


def _softmax_cost(scores: int, rows: int) -> Cost:
    return 2 * scores, 3 * scores - 2 * rows


def fast_path(func, args: tuple, kwargs: dict, out) -> FastPath | None:
    """PyTorch's inference fast paths (taken under no_grad in eval mode: a frozen trunk, evaluation).
    None for nested (padded) inputs, whose real lengths the shapes do not give."""
    a = _bind(func, args, kwargs)
    if func._overloadpacket is aten._native_multi_head_attention:
        q, k, v, e, h = a["query"], a["key"], a["value"], a["embed_dim"], a["num_head"]
        if any(t.is_nested for t in (q, k, v)):
            return None
        b, lq, lk = q.shape[0], q.shape[-2], k.shape[-2]
        proj = (q.numel() + k.numel() + v.numel()) * e + q.numel() * e  # q, k, v and output projections
        attn = 2 * b * lq * lk * e
        scores, rows = b * h * lq * lk, b * h * lq
        mults, adds = _softmax_cost(scores, rows)
        mults += q.numel() + k.numel()  # scalings priced as the math path's (the kernel scales q only)
        adds += q.numel() + k.numel() + v.numel() + q.numel()  # projection biases
        if a.get("mask") is not None:
            adds += scores
        if a.get("need_weights", True) and a.get("average_attn_weights", True):
            mults, adds = mults + b * lq * lk, adds + scores - b * lq * lk
        inputs = {id(t): t for t in (q, k, v)}.values()  # self-attention reads one tensor, not three
        lv = v.shape[-2]
        gemms = (_linear(b * lq, e, e), _linear(b * lk, e, e), _linear(b * lv, e, e), *_heads(b, h, lq, lk, e),
                 _linear(b * lq, e, e))
        return FastPath(proj, attn, (mults, adds), sum(t.numel() for t in inputs), out[0].numel(), gemms)
    src = a["src"]
    if src.is_nested:
        return None
    b, s, e, h = src.shape[0], src.shape[1], a["embed_dim"], a["num_heads"]
    f = a["ffn_weight_1"].shape[0]
    n, hidden = b * s * e, b * s * f
    weight_macs = 3 * n * e + n * e + 2 * n * f  # qkv, output projection, two MLP layers
    scores, rows = b * h * s * s, b * h * s
    mults, adds = _softmax_cost(scores, rows)
    mults += 2 * n  # q and k scalings, as the math path's
    adds += 3 * n + n + hidden + n  # biases
    if a.get("mask") is not None:
        adds += scores
    for _ in range(2):  # two layer norms over e features, affine
        mults, adds = mults + 2 * n + 3 * (b * s) + n, adds + 3 * n - b * s + n
    act = (4, 1) if a["use_gelu"] else (0, 1)
    mults, adds = mults + act[0] * hidden, adds + act[1] * hidden + 2 * n  # activation, two residual adds
    gemms = (_linear(b * s, e, 3 * e), *_heads(b, h, s, s, e), _linear(b * s, e, e), _linear(b * s, e, f),
             _linear(b * s, f, e))
    return FastPath(weight_macs, 2 * b * s * s * e, (mults, adds), src.numel(), out.numel(), gemms)
