"""The per-op formulas, in one place: the MAC-op registry (aten op -> its handle: which
arguments are the multiplied operands and how many MACs the op performs, from shapes), the
GEMM view of a forward MAC op, and the cost of an optimizer's update (a per-element table for
SGD and Adam/AdamW, and the element-wise cost of each op an optimizer dispatches).

Element-wise ops of the forward and backward are priced in cost/elementwise.py, fused attention
kernels in cost/attention.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from energybench.cost.step import LayerCost

aten = torch.ops.aten


def conv_macs(x_shape, w_shape, out_shape, transposed: bool = False) -> int:
    """Each output position of each output channel takes Cin/groups * prod(kernel) MACs, which
    is prod(w_shape) per position since w is (Cout, Cin/groups, *k); a transposed conv
    scatters every input position through its (Cin, Cout/groups, *k) weight instead."""
    positions = (x_shape if transposed else out_shape)[2:]
    return x_shape[0] * math.prod(positions) * math.prod(w_shape)


def _mm_macs(a, b) -> int:  # (m, k) @ (k, n)
    return a[0] * a[1] * b[1]


def _bmm_macs(a, b) -> int:  # (B, m, k) @ (B, k, n)
    return a[0] * a[1] * a[2] * b[2]


@dataclass(frozen=True)
class MacHandle:
    """How one MAC op is counted: the indices of its two multiplied operands in its arguments,
    and its MACs from its arguments and output."""

    operands: tuple[int, int]
    macs: Callable[[tuple, Any], int]
    conv: bool = False  # a (forward) convolution: the GEMM view and the geometry read its arguments


def _matmul(operands: tuple[int, int], formula: Callable) -> MacHandle:
    i, j = operands
    return MacHandle(operands, lambda args, out: formula(args[i].shape, args[j].shape))


def _conv(args, out) -> int:  # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    return conv_macs(args[0].shape, args[1].shape, out.shape, bool(args[6]))


def _conv_backward(args, out) -> int:  # (grad_out, input, weight, ..., transposed at 7, ..., output_mask at 10)
    return conv_macs(args[1].shape, args[2].shape, args[0].shape, bool(args[7]))


# aten op -> its MAC handle. The matmul family's backward ops are matmuls too (the same handles);
# a convolution's backward is one op computing the input and weight gradients (each its forward's MACs).
MAC_HANDLES: dict[Any, MacHandle] = {
    aten.mm: _matmul((0, 1), _mm_macs),
    aten.addmm: _matmul((1, 2), _mm_macs),
    aten.bmm: _matmul((0, 1), _bmm_macs),
    aten.baddbmm: _matmul((1, 2), _bmm_macs),
    aten.addbmm: _matmul((1, 2), _bmm_macs),
    aten.mv: _matmul((0, 1), lambda a, v: a[0] * a[1]),
    aten.addmv: _matmul((1, 2), lambda a, v: a[0] * a[1]),
    aten.dot: _matmul((0, 1), lambda a, b: a[0]),
    aten.convolution: MacHandle((0, 1), _conv, conv=True),
    aten._convolution: MacHandle((0, 1), _conv, conv=True),
    aten.convolution_overrideable: MacHandle((0, 1), _conv, conv=True),
    aten.convolution_backward: MacHandle((1, 2), _conv_backward),
}
CONV_OPS = frozenset(op for op, h in MAC_HANDLES.items() if h.conv)
# ops without a `self` added to their products (the others add a bias or `self`: element-wise adds)
PLAIN_PRODUCTS = frozenset({aten.mm, aten.bmm, aten.mv, aten.dot})


def gemm_shape(packet, args, ops, is_weight, out) -> tuple[int, ...]:
    """(M, K, N, groups, A elems, B elems, C elems, B is a weight) of a forward MAC op."""
    a, b = ops
    if packet in CONV_OPS:
        x, w, transposed, groups = a, b, bool(args[6]), int(args[8])
        if transposed:  # w: (Cin, Cout/g, k...): each input position scatters through it
            m, k, n = x.shape[0] * math.prod(x.shape[2:]), w.shape[0] // groups, math.prod(w.shape[1:])
        else:  # w: (Cout, Cin/g, k...)
            m, k, n = x.shape[0] * math.prod(out.shape[2:]), math.prod(w.shape[1:]), w.shape[0] // groups
        return m, k, n, groups, x.numel(), w.numel(), out.numel(), 1
    sa, sb = tuple(a.shape), tuple(b.shape)
    groups = sa[0] if len(sa) == 3 else 1  # bmm family: one product per batch entry
    m, k, n = (sa[-2] if len(sa) >= 2 else 1), sa[-1], (sb[-1] if len(sb) >= 2 else 1)
    a_elems, b_elems = a.numel(), b.numel()
    if is_weight[0] and not is_weight[1]:  # W @ x is (x^T @ W^T)^T: the same product, the weight second
        m, n, a_elems, b_elems = n, m, b_elems, a_elems
    return m, k, n, groups, a_elems, b_elems, out.numel(), int(any(is_weight))


def add_gemm(layer: LayerCost, key: tuple[int, ...]) -> None:
    for rec in layer.gemms:
        if tuple(rec[:-1]) == key:
            rec[-1] += 1
            return
    layer.gemms.append([*key, 1])


# ----- optimizer update cost -------------------------------------------------------------------

# (mults, adds) per output element of the element-wise ops optimizers dispatch. A division or
# square root is priced as one multiply (a documented underestimate); copies, fills and
# zero-initialisation are data movement (memory model), not arithmetic.
def update_op_cost(name: str, args, kwargs) -> tuple[int, int] | None:
    base = name.removeprefix("_foreach_").rstrip("_")
    scaled = lambda key, pos: (kwargs.get(key, args[pos] if len(args) > pos else 1) != 1)  # noqa: E731
    if base in ("add", "sub"):
        return (1, 1) if scaled("alpha", 2) else (0, 1)
    if base in ("mul", "div", "sqrt", "rsqrt", "reciprocal"):
        return (1, 0)
    if base in ("neg", "maximum", "minimum", "sign", "abs"):
        return (0, 1)
    if base == "lerp":  # a + w * (b - a)
        return (1, 2)
    if base in ("addcmul", "addcdiv"):  # self + value * t1 (*|/) t2
        return (2, 1) if scaled("value", 3) else (1, 1)
    if base in ("clone", "copy", "zeros_like", "zero", "fill", "detach", "empty_like", "lift_fresh", "view",
                "_local_scalar_dense", "_to_copy", "alias"):
        return (0, 0)
    return None


def optimizer_update_table(opt: torch.optim.Optimizer, group: dict) -> tuple[int, int, int] | None:
    """Steady-state (mults, adds) per updated element and adds per updated tensor, following
    PyTorch's single-tensor SGD/Adam/AdamW code; None where the table does not apply."""
    name = type(opt).__name__
    if group.get("maximize") or group.get("differentiable"):
        return None
    if name == "SGD":
        mults = adds = 0
        if group["weight_decay"]:
            mults, adds = mults + 1, adds + 1  # g += wd * p
        if group["momentum"]:
            mults, adds = mults + 1, adds + 1  # buf = m * buf + (1 - dampening) * g
            mults += 1 if group["dampening"] else 0
            if group["nesterov"]:
                mults, adds = mults + 1, adds + 1  # g += m * buf
        return mults + 1, adds + 1, 0  # p -= lr * g
    if name in ("Adam", "AdamW") and not group.get("amsgrad"):
        decoupled = name == "AdamW" or group.get("decoupled_weight_decay", False)
        mults, adds = 8, 5  # lerp 1+2, mul 1, addcmul 2+1, sqrt 1, div 1, +eps 1, addcdiv 2+1
        if group["weight_decay"]:
            mults, adds = (mults + 1, adds) if decoupled else (mults + 1, adds + 1)
        return mults, adds, 1  # the per-tensor step counter
    return None


def describe_optimizer(opt: torch.optim.Optimizer) -> str:
    g = opt.param_groups[0]
    keys = [k for k in ("lr", "momentum", "dampening", "nesterov", "weight_decay", "betas", "eps", "amsgrad")
            if k in g and not isinstance(g[k], torch.Tensor)]
    return f"{type(opt).__name__}(" + ", ".join(f"{k}={g[k]}" for k in keys) + ")"
