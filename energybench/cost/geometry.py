"""The shape of each MAC op a layer ran: what a mapper (or another tool's workload format)
needs beyond the GEMM view, i.e. a convolution's kernel, stride, padding, dilation and groups.

The counter records one entry per distinct geometry of a layer's forward MAC ops (with the
number of calls), as plain data on `LayerCost.geometry` so profiles stay torch-free and
serialisable; `geometries(layer)` reads them back as `Geometry` objects.

Conventions: sizes are spatial only (H, W for 2-d; one entry for 1-d, three for 3-d), batch
apart; a linear layer or matmul is `op="gemm"` with (m, k, n) = (rows, reduction, columns) in
`groups` independent products (a bmm's batch), `weight` telling whether B is a Parameter.
Pure: no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energybench.cost.step import LayerCost


@dataclass(frozen=True)
class Geometry:
    op: str  # "conv" or "gemm"
    calls: int = 1
    # convolution (op == "conv"); a transposed convolution keeps torch's meaning of each field
    batch: int = 0
    in_channels: int = 0
    out_channels: int = 0
    in_size: tuple[int, ...] = ()
    out_size: tuple[int, ...] = ()
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1
    transposed: bool = False
    output_padding: tuple[int, ...] = field(default=())
    # GEMM (op == "gemm"): groups x ((m x k) @ (k x n))
    m: int = 0
    k: int = 0
    n: int = 0
    weight: bool = False

    @property
    def macs(self) -> int:
        """Forward MACs of all calls (the counter's formula, from the geometry alone)."""
        if self.op == "gemm":
            return self.m * self.k * self.n * self.groups * self.calls
        positions = math.prod(self.in_size if self.transposed else self.out_size)
        per_position = (self.out_channels if self.transposed else self.in_channels) // self.groups
        other = self.in_channels if self.transposed else self.out_channels
        return self.batch * positions * per_position * other * math.prod(self.kernel) * self.calls

    def key(self) -> tuple:
        """Everything but the call count: two calls of one shape share a key."""
        d = asdict(self)
        d.pop("calls")
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items())

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def conv_geometry(x_shape, w_shape, out_shape, stride, padding, dilation, transposed: bool,
                  output_padding, groups: int) -> Geometry:
    """A convolution's geometry from aten.convolution's arguments (w: Cout x Cin/g x k..., or
    Cin x Cout/g x k... when transposed)."""
    spatial = len(x_shape) - 2
    in_ch = x_shape[1]
    out_ch = w_shape[1] * groups if transposed else w_shape[0]

    def per_dim(v):
        v = list(v)
        return tuple(v * spatial if len(v) == 1 else v)

    return Geometry(op="conv", batch=int(x_shape[0]), in_channels=int(in_ch), out_channels=int(out_ch),
                    in_size=tuple(int(s) for s in x_shape[2:]), out_size=tuple(int(s) for s in out_shape[2:]),
                    kernel=tuple(int(s) for s in w_shape[2:]), stride=per_dim(stride), padding=per_dim(padding),
                    dilation=per_dim(dilation), groups=int(groups), transposed=bool(transposed),
                    output_padding=per_dim(output_padding) if transposed else ())


def gemm_geometry(m: int, k: int, n: int, groups: int, weight: bool) -> Geometry:
    return Geometry(op="gemm", m=int(m), k=int(k), n=int(n), groups=int(groups), weight=bool(weight))


def add_geometry(records: list[dict], g: Geometry) -> None:
    """Count one more call of `g` in a layer's records (one entry per distinct geometry)."""
    key = g.key()
    for rec in records:
        if Geometry.from_dict(rec).key() == key:
            rec["calls"] += 1
            return
    records.append(g.to_dict())


def geometries(layer: "LayerCost") -> list[Geometry]:
    return [Geometry.from_dict(d) for d in layer.geometry]
