"""Each (layer, pass) of a step as ZigZag layers: convolutions stay convolutions, backward passes
are written as the convolutions they are, so a mapper sees their real reuse.

ZigZag's layer (its workload YAML, one dict per layer) computes
    O[b][g][k][oy][ox] += W[g][k][c][fy][fx] * I[b][g][c][iy][ix],  iy = s*oy + d*fy (and x)
with W held by the array's stationary memories (operand I2), I by I1. For a 2-d convolution
(batch N, Cin = C, Cout = K, groups g, kernel R x S, stride s, dilation d, output P x Q):

  forward              B=N, G=g, K=K/g, C=C/g, OY,OX=P,Q, FY,FX=R,S, stride s, dilation d
  backward-to-input    dY convolved with the flipped kernel, channels swapped (K=C/g, C=K/g).
                       Stride s becomes s x s phase convolutions: the taps r with d*r = psi
                       (mod s) feed only the input-gradient positions of phase psi, a stride-1
                       convolution with ceil-many taps, dilation d/gcd(d, s), over dY's P x Q
                       positions (dX has s*P x s*Q: P x Q per phase). Every tap belongs to one
                       phase, so the MACs are the forward's exactly.
  backward-to-weights  dW[k][c][r][s'] = sum over n, p, q of dY[n][k][p][q] X[n][c][s*p + d*r]:
                       a convolution whose kernel is dY (FY,FX = P,Q dilated by the stride),
                       output R x S positions at dilation d, reduced over the batch
                       (B = C/g, C = N, K = K/g): the forward's MACs.

1-d convolutions are 2-d ones with a height of 1. A linear layer or matmul (groups x (m x k) @
(k x n)) is the same equation without spatial loops (B=m, C=k, K=n; backward-to-input B=m, C=n,
K=k; backward-to-weights B=k, C=m, K=n, W the output gradient, as in mappers/analytic.py). 3-d and
transposed convolutions take their im2col GEMMs from the counter (`gemm` fallback, named in the
result). A pass whose counted MACs differ from the forward's (a partial backward) is scaled by
their ratio (`scale`).

Pure: plain data in and out; no ZigZag, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from energybench.cost.geometry import Geometry, geometries

if TYPE_CHECKING:
    from energybench.cost.counter import LayerCost

MAC_PASSES = ("forward", "backward_input", "backward_weight")
EQUATION = "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"
GEMM_EQUATION = "O[b][g][k]+=W[g][k][c]*I[b][g][c]"


@dataclass(frozen=True)
class PassWorkload:
    """One pass of one layer as ZigZag layers, each run `times` (calls of that geometry)."""

    layer: str
    pass_: str
    layers: tuple[tuple[dict, int], ...]  # (ZigZag layer dict without id, times)
    scale: float = 1.0  # counted MACs / translated MACs (1 for convolutions and linear layers)
    form: str = "conv"  # conv, gemm, or gemm-fallback (im2col, geometry not expressible)

    @property
    def macs(self) -> float:
        return self.scale * sum(layer_macs(d) * t for d, t in self.layers)


def layer_macs(d: dict) -> int:
    """MACs of one ZigZag layer dict: the product of its loop sizes."""
    return math.prod(d["loop_sizes"])


def _precision(bits: int) -> dict:
    return {"W": bits, "I": bits, "O": bits, "O_final": bits}


def conv_layer(name: str, *, b: int, g: int, k: int, c: int, oy: int, ox: int, fy: int, fx: int,
               sy: int, sx: int, dy: int, dx: int, iy: int, ix: int, pad_y: tuple[int, int],
               pad_x: tuple[int, int], bits: int) -> dict:
    """A ZigZag convolution layer (user YAML format) with the input's real size and padding."""
    return {"name": name, "operator_type": "Conv", "equation": EQUATION,
            "dimension_relations": [f"ix={sx}*ox+{dx}*fx", f"iy={sy}*oy+{dy}*fy"],
            "loop_dims": ["B", "K", "G", "OX", "OY", "C", "FX", "FY"],
            "loop_sizes": [b, k, g, ox, oy, c, fx, fy],
            "operand_precision": _precision(bits),
            "pr_loop_dims": ["IX", "IY"], "pr_loop_sizes": [ix, iy],
            "padding": [list(pad_x), list(pad_y)]}


def gemm_layer(name: str, *, b: int, g: int, k: int, c: int, bits: int) -> dict:
    return {"name": name, "operator_type": "Gemm", "equation": GEMM_EQUATION, "dimension_relations": [],
            "loop_dims": ["B", "K", "G", "C"], "loop_sizes": [b, k, g, c], "operand_precision": _precision(bits)}


def _pad_split(total: int) -> tuple[int, int]:
    return total // 2, total - total // 2


def _as_2d(geo: Geometry) -> tuple[tuple[int, int], ...] | None:
    """(in, out, kernel, stride, padding, dilation) as (y, x) pairs; None if not 1-d or 2-d."""
    n = len(geo.kernel)
    if n not in (1, 2):
        return None
    fields = (geo.in_size, geo.out_size, geo.kernel, geo.stride, geo.padding, geo.dilation)
    if n == 1:
        return tuple((1 if f is not geo.padding else 0, f[0]) for f in fields)
    return tuple((f[0], f[1]) for f in fields)


def _phases(r: int, s: int, d: int) -> list[tuple[int, int]]:
    """Per stride phase psi of one dimension: (taps, dilation) of its stride-1 convolution; the
    phases without taps are left out (their input gradient is zero)."""
    out = []
    for psi in range(s):
        taps = [t for t in range(r) if (d * t) % s == psi]
        if taps:
            out.append((len(taps), d // math.gcd(d, s)))
    return out


def conv_passes(geo: Geometry, name: str, bits: int) -> dict[str, list[tuple[dict, int]]] | None:
    """Forward, backward-to-input and backward-to-weights of one convolution geometry."""
    dims = None if geo.transposed else _as_2d(geo)
    if dims is None:
        return None
    (hy, hx), (py, px), (ry, rx), (sy, sx), (ay, ax), (dy, dx) = dims
    g, n = geo.groups, geo.batch
    cin, cout = geo.in_channels // g, geo.out_channels // g
    t = geo.calls
    fwd = conv_layer(f"{name}.forward", b=n, g=g, k=cout, c=cin, oy=py, ox=px, fy=ry, fx=rx, sy=sy, sx=sx,
                     dy=dy, dx=dx, iy=hy, ix=hx, pad_y=(ay, ay), pad_x=(ax, ax), bits=bits)
    bwd_in = []
    for i, (ty, ey) in enumerate(_phases(ry, sy, dy)):
        for j, (tx, ex) in enumerate(_phases(rx, sx, dx)):
            suffix = f".phase{i}{j}" if sy * sx > 1 else ""
            bwd_in.append((conv_layer(f"{name}.backward_input{suffix}", b=n, g=g, k=cin, c=cout, oy=py, ox=px,
                                      fy=ty, fx=tx, sy=1, sx=1, dy=ey, dx=ex, iy=py, ix=px,
                                      pad_y=_pad_split(ey * (ty - 1)), pad_x=_pad_split(ex * (tx - 1)),
                                      bits=bits), t))
    bwd_w = conv_layer(f"{name}.backward_weight", b=cin, g=g, k=cout, c=n, oy=ry, ox=rx, fy=py, fx=px,
                       sy=dy, sx=dx, dy=sy, dx=sx, iy=hy, ix=hx, pad_y=(ay, ay), pad_x=(ax, ax), bits=bits)
    return {"forward": [(fwd, t)], "backward_input": bwd_in, "backward_weight": [(bwd_w, t)]}


def gemm_passes(m: int, k: int, n: int, g: int, weight: bool, calls: int, name: str,
                bits: int) -> dict[str, list[tuple[dict, int]]]:
    """The three GEMMs of mappers/analytic.py's table; a product of two activations has both operand
    gradients as backward-to-input."""
    fwd = gemm_layer(f"{name}.forward", b=m, g=g, k=n, c=k, bits=bits)
    grad_a = gemm_layer(f"{name}.backward_input", b=m, g=g, k=k, c=n, bits=bits)
    grad_b = gemm_layer(f"{name}.backward_weight" if weight else f"{name}.backward_input.b", b=k, g=g, k=n, c=m,
                        bits=bits)
    if weight:
        return {"forward": [(fwd, calls)], "backward_input": [(grad_a, calls)], "backward_weight": [(grad_b, calls)]}
    return {"forward": [(fwd, calls)], "backward_input": [(grad_a, calls), (grad_b, calls)], "backward_weight": []}


def pass_workloads(layer: "LayerCost", bits: int) -> list[PassWorkload]:
    """Every MAC pass the counter saw for this layer, as ZigZag layers (MACs equal to the counter's)."""
    per_pass: dict[str, list[tuple[dict, int]]] = {p: [] for p in MAC_PASSES}
    form = "conv"
    geos = geometries(layer)
    translated = [conv_passes(geo, layer.name, bits) if geo.op == "conv" else
                  gemm_passes(geo.m, geo.k, geo.n, geo.groups, geo.weight, geo.calls, layer.name, bits)
                  for geo in geos]
    if not geos or any(t is None for t in translated):  # no geometry recorded, or a 3-d/transposed conv
        form = "gemm-fallback"
        translated = [gemm_passes(m, k, n, g, bool(bw), calls, layer.name, bits)
                      for m, k, n, g, _a, _b, _c, bw, calls in layer.gemms]
    elif all(geo.op == "gemm" for geo in geos):
        form = "gemm"
    for t in translated:
        for p in MAC_PASSES:
            per_pass[p] += t[p]
    counted = {"forward": layer.fwd_macs, "backward_input": layer.bwd_input_macs,
               "backward_weight": layer.bwd_weight_macs}
    out = []
    for p in MAC_PASSES:
        if not counted[p] or not per_pass[p]:
            continue
        w = PassWorkload(layer.name, p, tuple(per_pass[p]), 1.0, form)
        scale = counted[p] / w.macs if w.macs else 0.0
        out.append(PassWorkload(layer.name, p, w.layers, scale, form))
    return out
