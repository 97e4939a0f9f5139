"""Word accesses at every level of an architecture, per layer and pass: the analytic tiling model.

Every MAC op of a layer is a GEMM, C (M x N) += A (M x K) @ B (K x N), in `groups` independent
copies (counter.py records them: a convolution in its im2col view, B the weight). The passes
of one training step are three GEMMs and an element-wise update:

  forward           C = A B          M, K, N           A = input,          B = weight, C = output
  backward-to-input dA = dC B^T      M, N, K           A = output grad.,   B = weight, C = input grad.
  backward-to-weights dB = A^T dC    K, M, N           A = input (read back), B = output grad., C = weight grad.
  update            W, S <- f(W, dW, S): reads 2U + S, writes U + S (U trainable, S optimizer state)

A pass runs only if the counter saw it (frozen layers: no backward-to-weights and no update;
a frozen prefix: no backward at all), scaled by its counted MACs over the forward's.

Stationary dataflows (weight/output/input stationary; after SCALE-Sim, Samajdar et al.,
ISPASS 2020): the array of R x C PEs, each keeping d words of the stationary operand in its
register file (d = 1 without one), takes the GEMM in folds:

  weight-stationary  fk = ceil(K / (R d)), fn = ceil(N / C): the buffer sends A fn times
                     (A's im2col elements), B once, reads back fk - 1 and takes fk partial sums
  output-stationary  fm = ceil(M / (R d)), fn = ceil(N / C): A fn times, B fm times, C once
  input-stationary   fm = ceil(M / (C d)), fk = ceil(K / R): A once, B fm times, fk partial sums

Between buffer and DRAM each pass of each layer starts and ends in DRAM (no data stays on
chip from one layer or pass to the next). If the pass's unique A + B + C words fit the buffer,
each crosses once; else the stationary operand T (B, C, A) is cut into t = ceil(T / buffer)
tiles and the streamed input is fetched once per tile (output-stationary: whichever of A, B
is cheaper to re-fetch). Every transfer is a read at one level and a write at the other; the
register file also serves every MAC (accesses_per_mac, e.g. 3 reads and 1 write), and the
element-wise update and the non-GEMM parameters (biases, batch norm) stream through the
buffer from DRAM.

`layer_buffer` and `weights_only` do not fold: the first splits memory_model.py's accesses of
a layer between its SRAM and DRAM (energy.py), the second counts weight reads (forward) and
trainable-weight writes (update) only.

Pure: the counter's plain data in, counts out; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from energybench.cost.arch import Architecture

if TYPE_CHECKING:
    from energybench.cost.counter import LayerCost

PASSES = ("forward", "backward_input", "backward_weight", "update")


@dataclass(frozen=True)
class Gemm:
    """One pass's product, groups x ((m x k) @ (k x n)), with the unique elements of A, B, C
    (C's as kept: for an input gradient, the input's size), `times` over."""

    m: int
    k: int
    n: int
    groups: int
    a: int
    b: int
    c: int
    times: float = 1

    @property
    def macs(self) -> float:
        return self.m * self.k * self.n * self.groups * self.times


@dataclass(frozen=True)
class Access:
    """Word reads and writes of one level in one pass of one layer."""

    layer: str
    pass_: str
    level: str
    reads: float
    writes: float


def _ratio(part: int, whole: int):
    """part / whole, kept an int where it is 0 or 1 (conv and linear layers), so counts stay exact."""
    if part == 0 or whole == 0:
        return 0
    return 1 if part == whole else part / whole


def pass_gemms(layer: "LayerCost") -> dict[str, list[Gemm]]:
    """The layer's forward, backward-to-input and backward-to-weights GEMMs."""
    f_in = _ratio(layer.bwd_input_macs, layer.fwd_macs)
    f_w = _ratio(layer.bwd_weight_macs, layer.fwd_macs)
    out: dict[str, list[Gemm]] = {p: [] for p in PASSES[:3]}
    for m, k, n, g, a, b, c, b_weight, calls in layer.gemms:
        out["forward"].append(Gemm(m, k, n, g, a, b, c, calls))
        grad_a = Gemm(m, n, k, g, c, b, a, calls)
        grad_b = Gemm(k, m, n, g, a, c, b, calls)
        if b_weight:
            if f_in:
                out["backward_input"].append(_times(grad_a, f_in))
            if f_w:
                out["backward_weight"].append(_times(grad_b, f_w))
        elif f_in:  # both operands are activations: their gradients are backward-to-input
            out["backward_input"] += [_times(grad_a, f_in / 2), _times(grad_b, f_in / 2)]
    return out


def _times(g: Gemm, factor) -> Gemm:
    return g if factor == 1 else Gemm(g.m, g.k, g.n, g.groups, g.a, g.b, g.c, g.times * factor)


def array_traffic(g: Gemm, dataflow: str, rows: int, cols: int, depth: int = 1) -> dict[str, float]:
    """Buffer <-> array words of one GEMM: A and B sent down, partial sums read back and written
    up (see the module docstring)."""
    m, k, n, grp = g.m, g.k, g.n, g.groups
    if dataflow == "weight_stationary":
        fk, fn, fm = math.ceil(k / (rows * depth)), math.ceil(n / cols), 1
        a, b, psum, up = m * k * fn, k * n, m * n * (fk - 1), m * n * fk
    elif dataflow == "output_stationary":
        fm, fn = math.ceil(m / (rows * depth)), math.ceil(n / cols)
        a, b, psum, up = m * k * fn, k * n * fm, 0, m * n
    else:  # input_stationary
        fm, fk = math.ceil(m / (cols * depth)), math.ceil(k / rows)
        a, b, psum, up = m * k, k * n * fm, m * n * (fk - 1), m * n * fk
    t = grp * g.times
    return {"a": a * t, "b": b * t, "psum": psum * t, "up": up * t}


def dram_traffic(g: Gemm, dataflow: str, buffer_words: int) -> tuple[float, float]:
    """(DRAM reads, DRAM writes) of one GEMM's unique operands through a buffer of that size."""
    a, b, c = g.a, g.b, g.c
    if a + b + c <= buffer_words:
        reads = a + b
    elif dataflow == "weight_stationary":
        reads = b + a * math.ceil(b / buffer_words)
    elif dataflow == "input_stationary":
        reads = a + b * math.ceil(a / buffer_words)
    else:  # output-stationary: re-fetch whichever input is cheaper
        t = math.ceil(c / buffer_words)
        reads = min(a * t + b, a + b * t)
    return reads * g.times, c * g.times


def stationary_accesses(layer: "LayerCost", arch: Architecture, value_bits: int) -> Iterator[Access]:
    """Per-pass, per-level accesses of one layer under a stationary dataflow."""
    rf, buf, dram = arch.level("rf"), arch.level("sram"), arch.level("dram")
    depth = max(1, rf.capacity_bytes * 8 // value_bits) if rf else 1
    buffer_words = buf.capacity_bytes * buf.instances * 8 // value_bits
    name = layer.name
    for pass_, gemms in pass_gemms(layer).items():
        r = {lv.name: [0, 0] for lv in arch.levels}
        for g in gemms:
            t = array_traffic(g, arch.dataflow, arch.rows, arch.cols, depth)
            d_reads, d_writes = dram_traffic(g, arch.dataflow, buffer_words)
            down = t["a"] + t["b"] + t["psum"]
            if rf:
                r[rf.name][0] += rf.reads_per_mac * g.macs + t["up"]
                r[rf.name][1] += rf.writes_per_mac * g.macs + down
            r[buf.name][0] += down + d_writes
            r[buf.name][1] += t["up"] + d_reads
            r[dram.name][0] += d_reads
            r[dram.name][1] += d_writes
        yield from (Access(name, pass_, lv, rw[0], rw[1]) for lv, rw in r.items() if rw[0] or rw[1])
    yield from _streamed(layer, buf.name, dram.name)


def _streamed(layer: "LayerCost", buf: str, dram: str) -> Iterator[Access]:
    """Parameters outside the GEMMs (biases, batch norm) and the update, streamed from DRAM
    through the buffer: a DRAM read is a buffer write (fill) and a buffer read (use); a result
    is a buffer write and a buffer read (drain) and a DRAM write."""
    gemm_weights = sum(rec[5] for rec in layer.gemms if rec[7])
    extra = max(layer.weight_elems - gemm_weights, 0)
    extra_grads = max(layer.trainable_elems - (gemm_weights if layer.bwd_weight_macs else 0), 0)
    if extra:
        w = extra * layer.calls
        yield Access(layer.name, "forward", buf, w, w)
        yield Access(layer.name, "forward", dram, w, 0)
    if extra_grads:
        yield Access(layer.name, "backward_weight", buf, extra_grads, extra_grads)
        yield Access(layer.name, "backward_weight", dram, 0, extra_grads)
    u, s = layer.trainable_elems, layer.state_elems
    if u:
        into, out = 2 * u + s, u + s
        yield Access(layer.name, "update", buf, into + out, into + out)
        yield Access(layer.name, "update", dram, into, out)


def weights_only_accesses(layer: "LayerCost", arch: Architecture) -> Iterator[Access]:
    """The partial-sharing paper's accounting: weights read once per step (every forward call),
    trainable weights written once (their update)."""
    level = arch.levels[0].name
    if layer.weight_elems:
        yield Access(layer.name, "forward", level, layer.weight_elems * max(layer.calls, 1), 0)
    if layer.trainable_elems:
        yield Access(layer.name, "update", level, 0, layer.trainable_elems)
