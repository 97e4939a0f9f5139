"""The analytic mapper: word reads and writes at every level of an architecture, cycles and
utilisation, per layer and pass, in closed form (cost/README.md, "The analytic model").

Every MAC op of a layer is a GEMM, C (M x N) += A (M x K) @ B (K x N), in `groups` independent
copies (counter.py records them: a convolution in its im2col view, B the weight). The passes
of one training step are three GEMMs and an element-wise update:

  forward             C = A B          M, K, N   A = input,             B = weight,      C = output
  backward-to-input   dA = dC B^T      M, N, K   A = output gradient,   B = weight,      C = input gradient
  backward-to-weights dB = A^T dC      K, M, N   A = input (read back), B = output grad., C = weight gradient
  update              W, S <- f(W, dW, S): reads 2U + S, writes U + S (U trainable, S optimizer state)

A pass runs only if the counter saw it (frozen layers: no backward-to-weights and no update;
a frozen prefix: no backward at all), scaled by its counted MACs over the forward's.

`layer_buffer` splits memory_model.py's accesses of a layer between the layer's SRAM and DRAM
(the share of its working set that does not fit is served from DRAM); `weights_only` counts
weight reads (every forward call) and trainable-weight writes (the update) only. The engine
gives this mapper the architecture with every auto-sized level already sized for the layer.

Pure: the counter's plain data in, PassMappings out; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from energybench.cost.arch import Architecture
from energybench.cost.geometry import geometries
from energybench.cost.mapping import PASSES, PassMapping
from energybench.cost.memory_model import working_set_words

if TYPE_CHECKING:
    from energybench.cost.counter import LayerCost

NAME = "analytic"


@dataclass(frozen=True)
class Gemm:
    """One pass's product, groups x ((m x k) @ (k x n)), with the unique elements of A, B, C
    that the pass really reads or writes (a strided convolution's input: the elements its windows
    touch), `times` over. `a_conv` / `c_conv` (per group): where the pass is a convolution, the
    unique elements of its input-side operand (the input, or the output gradient that backward-to-
    input convolves), which an array with convolutional reuse moves instead of im2col rows, and of
    its output (an input gradient); 0 where it is not. Backward-to-input runs as the convolution of
    dY with the flipped kernel (`conv_kn`: reduction Cout x kernel, Cin columns), with or without
    reuse, and emits the input gradient itself."""

    m: int
    k: int
    n: int
    groups: int
    a: int
    b: int
    c: int
    times: float = 1
    a_conv: int = 0
    c_conv: int = 0
    conv_kn: tuple[int, int] = ()  # (k, n) of the convolution form, where it differs from the GEMM's
    kernel_rows: int = 1  # a convolution's kernel height (conv_reuse: row sends inputs once per row)

    @property
    def macs(self) -> float:
        return self.m * self.k * self.n * self.groups * self.times


def _ratio(part: int, whole: int):
    """part / whole, kept an int where it is 0 or 1 (conv and linear layers), so counts stay exact."""
    if part == 0 or whole == 0:
        return 0
    return 1 if part == whole else part / whole


def _times(g: Gemm, factor) -> Gemm:
    return g if factor == 1 else replace(g, times=g.times * factor)


def touched(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Input positions along one dimension that a convolution's windows read: o s + j d - p for
    o < out, j < kernel, inside [0, size). A 1 x 1 stride-2 window reads every other position."""
    hit = bytearray(size)
    for j in range(kernel):
        for o in range(out):
            i = o * stride + j * dilation - padding
            if 0 <= i < size:
                hit[i] = 1
    return sum(hit)


def touched_input(geo) -> int:
    """Elements of a (not transposed) convolution's input, all of its batch, that its windows read."""
    per = math.prod(touched(*dims) for dims in zip(geo.in_size, geo.out_size, geo.kernel, geo.stride,
                                                  geo.padding, geo.dilation))
    return geo.batch * geo.in_channels * per


def _conv_inputs(layer: "LayerCost") -> dict[tuple[int, int, int, int], tuple[int, int, int]]:
    """(m, k, n, groups) of each convolution's GEMM -> (touched input elements of one call,
    kernel elements, kernel height)."""
    out = {}
    for geo in geometries(layer):
        if geo.op != "conv" or geo.transposed:
            continue
        m = geo.batch * math.prod(geo.out_size)
        k = geo.in_channels // geo.groups * math.prod(geo.kernel)
        out[(m, k, geo.out_channels // geo.groups, geo.groups)] = (touched_input(geo), math.prod(geo.kernel),
                                                                   geo.kernel[0])
    return out


def pass_gemms(layer: "LayerCost") -> dict[str, list[Gemm]]:
    """The layer's forward, backward-to-input and backward-to-weights GEMMs."""
    f_in = _ratio(layer.bwd_input_macs, layer.fwd_macs)
    f_w = _ratio(layer.bwd_weight_macs, layer.fwd_macs)
    convs = _conv_inputs(layer)
    out: dict[str, list[Gemm]] = {p: [] for p in PASSES[:3]}
    for m, k, n, g, a, b, c, b_weight, calls in layer.gemms:
        conv = convs.get((m, k, n, g))
        if conv is None:
            fwd, grad_a, grad_b = (Gemm(m, k, n, g, a, b, c, calls), Gemm(m, n, k, g, c, b, a, calls),
                                   Gemm(k, m, n, g, a, c, b, calls))
        else:
            x, kk, kh = conv
            fwd = Gemm(m, k, n, g, x, b, c, calls, a_conv=x // g, kernel_rows=kh)
            grad_a = Gemm(m, n, k, g, c, b, x, calls, a_conv=c // g, c_conv=x // g, conv_kn=(n * kk, k // kk),
                          kernel_rows=kh)
            grad_b = Gemm(k, m, n, g, x, c, b, calls, a_conv=x // g, kernel_rows=kh)
        out["forward"].append(fwd)
        if b_weight:
            if f_in:
                out["backward_input"].append(_times(grad_a, f_in))
            if f_w:
                out["backward_weight"].append(_times(grad_b, f_w))
        elif f_in:  # both operands are activations: their gradients are backward-to-input
            out["backward_input"] += [_times(grad_a, f_in / 2), _times(grad_b, f_in / 2)]
    return out


def array_traffic(g: Gemm, dataflow: str, rows: int, cols: int, depth: int = 1,
                  reuse: str = "none") -> dict[str, float]:
    """Buffer <-> array words of one GEMM (A and B sent down, partial sums read back and written
    up) and its compute cycles (module docstring)."""
    m, k, n, grp = g.m, g.k, g.n, g.groups
    if g.conv_kn:  # backward-to-input of a convolution runs as the convolution it is (dY with the flipped kernel)
        k, n = g.conv_kn
    # words of A one fold of the other operand takes (im2col rows); of C one reduction fold makes (an input
    # gradient: the input's touched elements, not the im2col rows a GEMM-and-col2im would write)
    a_in, c_out = m * k, g.c_conv or m * n
    if reuse != "none" and g.a_conv:
        per_row = g.kernel_rows if reuse == "row" else 1
        a_in = min(g.a_conv * per_row, m * k)
    skew = 2 * rows + cols - 2  # SCALE-Sim's fill and drain of one fold
    if dataflow == "weight_stationary":
        fk, fn = math.ceil(k / (rows * depth)), math.ceil(n / cols)
        t = {"a": a_in * fn, "b": k * n, "psum": c_out * (fk - 1), "up": c_out * fk}
        ek = math.ceil(k / (rows * fk))  # weights each PE takes in turn (at most its depth)
        cycles = fk * fn * (m * ek + skew)
    elif dataflow == "output_stationary":
        fm, fn = math.ceil(m / (rows * depth)), math.ceil(n / cols)
        t = {"a": a_in * fn, "b": k * n * fm, "psum": 0, "up": c_out}
        cycles = fm * fn * (k * math.ceil(m / (rows * fm)) + skew)
    else:  # input_stationary
        fm, fk = math.ceil(m / (cols * depth)), math.ceil(k / rows)
        t = {"a": a_in, "b": k * n * fm, "psum": c_out * (fk - 1), "up": c_out * fk}
        cycles = fm * fk * (n * math.ceil(m / (cols * fm)) + skew)
    f = grp * g.times
    return {**{key: v * f for key, v in t.items()}, "cycles": cycles * f}


def dram_traffic(g: Gemm, buffer_words: int) -> tuple[float, float]:
    """(DRAM reads, DRAM writes) of one GEMM through a buffer of that size: the cheaper of
    tiling B (A fetched once per tile) and tiling A (B once per tile); either input that fits
    stays on chip, so both then cross once. A tile holds whole reduction columns; where one
    column (k words) does not fit, partial sums of C spill to DRAM and come back."""
    a, b, c = g.a, g.b, g.c
    tiles_b, tiles_a = math.ceil(b / buffer_words), math.ceil(a / buffer_words)
    reads = min(b + a * tiles_b, a + b * tiles_a)
    writes = c
    if min(tiles_a, tiles_b) > 1 and g.k > buffer_words:
        spills = math.ceil(g.k / buffer_words) - 1
        reads, writes = reads + c * spills, writes + c * spills
    return reads * g.times, writes * g.times


class _Pass:
    """Accumulates one pass's (reads, writes) per level, MACs and cycles."""

    def __init__(self):
        self.levels: dict[str, list[float]] = {}
        self.macs = 0.0
        self.cycles = 0.0

    def add(self, level: str, reads: float, writes: float) -> None:
        if reads or writes:
            rw = self.levels.setdefault(level, [0, 0])
            rw[0] += reads
            rw[1] += writes


def bandwidth_cycles(levels: dict, arch: Architecture, value_bits: int) -> float:
    """The most cycles any level needs to move its words at its bandwidth (0: no limit given)."""
    worst = 0.0
    for lv in arch.levels:
        if lv.bandwidth and lv.name in levels:
            r, w = levels[lv.name]
            worst = max(worst, (r + w) * value_bits / (lv.word_bits or value_bits) / lv.bandwidth)
    return worst


def _mappings(layer: "LayerCost", passes: dict[str, _Pass], arch: Architecture,
              value_bits: int) -> list[PassMapping]:
    """Latency = max(compute cycles at the folds' utilisation, each level's words / its
    bandwidth); utilisation = MACs / (latency x PEs). Without an array: no latency."""
    out = []
    for name in PASSES:
        p = passes.get(name)
        if p is None or not (p.levels or p.macs):
            continue
        if arch.pes:
            p.cycles = max(p.cycles, bandwidth_cycles(p.levels, arch, value_bits))
        util = p.macs / (p.cycles * arch.pes) if arch.pes and p.cycles else None
        out.append(PassMapping(layer.name, name, {lv: (rw[0], rw[1]) for lv, rw in p.levels.items()}, p.macs,
                               p.cycles, util, NAME))
    return out


class AnalyticMapper:
    name = NAME

    def map_layer(self, layer: "LayerCost", arch: Architecture, value_bits: int) -> list[PassMapping]:
        """Every pass of the layer: MAC passes, the update and the parameters outside the GEMMs."""
        passes = self._mac_passes(layer, arch, value_bits)
        for p in self.non_mac_passes(layer, arch, value_bits):
            rw = passes.setdefault(p.pass_, _Pass())
            for lv, (r, w) in p.levels.items():
                rw.add(lv, r, w)
        return _mappings(layer, passes, arch, value_bits)

    def non_mac_passes(self, layer: "LayerCost", arch: Architecture, value_bits: int = 32) -> list[PassMapping]:
        """The traffic a mapper of MAC passes leaves to this model: the update and the
        parameters outside the GEMMs (biases, batch norm), streamed from DRAM through the buffer."""
        if arch.dataflow in ("layer_buffer", "weights_only"):
            return []
        passes: dict[str, _Pass] = {}
        buf, dram = arch.level("sram").name, arch.level("dram").name
        gemm_weights = sum(rec[5] for rec in layer.gemms if rec[7])
        extra = max(layer.weight_elems - gemm_weights, 0)
        extra_grads = max(layer.trainable_elems - (gemm_weights if layer.bwd_weight_macs else 0), 0)
        # a DRAM read is a buffer write (fill) and a buffer read (use); a result is a buffer write,
        # a buffer read (drain) and a DRAM write
        if extra:
            w = extra * layer.calls
            p = passes.setdefault("forward", _Pass())
            p.add(buf, w, w)
            p.add(dram, w, 0)
        if extra_grads:
            p = passes.setdefault("backward_weight", _Pass())
            p.add(buf, extra_grads, extra_grads)
            p.add(dram, 0, extra_grads)
        u, s = layer.trainable_elems, layer.state_elems
        if u:
            into, out = 2 * u + s, u + s
            p = passes.setdefault("update", _Pass())
            p.add(buf, into + out, into + out)
            p.add(dram, into, out)
        return _mappings(layer, passes, arch, value_bits)

    # ----- MAC passes --------------------------------------------------------------------------
    def _mac_passes(self, layer: "LayerCost", arch: Architecture, value_bits: int) -> dict[str, _Pass]:
        if arch.dataflow == "layer_buffer":
            return _layer_buffer(layer, arch, value_bits)
        if arch.dataflow == "weights_only":
            return _weights_only(layer, arch)
        return _stationary(layer, arch, value_bits)


def _layer_buffer(layer: "LayerCost", arch: Architecture, value_bits: int) -> dict[str, _Pass]:
    """memory_model.py's accesses by pass, split between the layer's SRAM (its share of the
    working set that fits) and DRAM (the rest)."""
    buf, dram = arch.levels
    ws = working_set_words(layer) * value_bits // 8
    fit = min(1.0, buf.capacity_bytes / ws) if ws else 1.0
    w, i, o, u, s = layer.weight_elems, layer.in_elems, layer.out_elems, layer.trainable_elems, layer.state_elems
    wp = w * layer.calls
    has_fwd, bwd_in, bwd_w = layer.fwd_macs > 0 or w > 0, layer.bwd_input_macs > 0, layer.bwd_weight_macs > 0
    words = {
        "forward": (wp + i, o) if has_fwd else (0, 0),
        "backward_input": (o + wp, i) if bwd_in else (0, 0),
        "backward_weight": ((o + i) if bwd_w else 0, u),
        "update": (2 * u + s, u + s),
    }
    macs = {"forward": layer.fwd_macs, "backward_input": layer.bwd_input_macs,
            "backward_weight": layer.bwd_weight_macs}
    passes: dict[str, _Pass] = {}
    for name, (r, wr) in words.items():
        p = passes.setdefault(name, _Pass())
        p.macs = macs.get(name, 0)
        if fit:
            p.add(buf.name, r * fit, wr * fit)
        if fit < 1:
            p.add(dram.name, r * (1 - fit), wr * (1 - fit))
    return passes


def _weights_only(layer: "LayerCost", arch: Architecture) -> dict[str, _Pass]:
    """The partial-sharing paper's accounting: weights read once per step (every forward call),
    trainable weights written once (their update)."""
    level = arch.levels[0].name
    passes = {"forward": _Pass(), "backward_input": _Pass(), "backward_weight": _Pass(), "update": _Pass()}
    passes["forward"].macs = layer.fwd_macs
    passes["backward_input"].macs = layer.bwd_input_macs
    passes["backward_weight"].macs = layer.bwd_weight_macs
    if layer.weight_elems:
        passes["forward"].add(level, layer.weight_elems * max(layer.calls, 1), 0)
    if layer.trainable_elems:
        passes["update"].add(level, 0, layer.trainable_elems)
    return passes


def _stationary(layer: "LayerCost", arch: Architecture, value_bits: int) -> dict[str, _Pass]:
    rf, buf, dram = arch.level("rf"), arch.level("sram"), arch.level("dram")
    depth = max(1, rf.capacity_bytes * 8 // value_bits) if rf else 1
    buffer_words = buf.capacity_bytes * buf.instances * 8 // value_bits
    passes: dict[str, _Pass] = {}
    for name, gemms in pass_gemms(layer).items():
        p = passes.setdefault(name, _Pass())
        for g in gemms:
            t = array_traffic(g, arch.dataflow, arch.rows, arch.cols, depth, arch.conv_reuse)
            d_reads, d_writes = dram_traffic(g, buffer_words)
            down = t["a"] + t["b"] + t["psum"]
            if rf:
                p.add(rf.name, rf.reads_per_mac * g.macs + t["up"], rf.writes_per_mac * g.macs + down)
            p.add(buf.name, down + d_writes, t["up"] + d_reads)
            p.add(dram.name, d_reads, d_writes)
            p.macs += g.macs
            p.cycles += t["cycles"]
    return passes
