"""The step profile: one step's counted work, per layer and in total, as plain data (no
tensors), so the ledger, the memory model and the energy math need no torch. The op counter
(cost/counter.py) fills it in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerCost:
    """One module's counted work in one step (all calls of the module added up)."""

    name: str
    kind: str  # conv, linear (MACs with a weight operand), matmul (activations only), else the module type
    module_type: str
    fwd_macs: int = 0
    bwd_input_macs: int = 0
    bwd_weight_macs: int = 0
    calls: int = 0  # forward calls of the module in the step
    weight_elems: int = 0  # elements of the distinct Parameters the module's ops read
    trainable_elems: int = 0  # of those, elements the optimizer updated in the step
    state_elems: int = 0  # optimizer state elements (momentum, Adam moments) of the updated ones
    in_elems: int = 0  # activation elements read by the forward MAC ops (all calls)
    out_elems: int = 0  # activation elements written by the forward MAC ops (all calls)
    # element-wise work (norms, softmax, activations, adds, pooling, losses: cost/elementwise.py)
    ew_fwd_mults: int = 0
    ew_fwd_adds: int = 0
    ew_bwd_mults: int = 0
    ew_bwd_adds: int = 0
    ew_reads: int = 0  # activation words the element-wise ops read (forward and backward)
    ew_writes: int = 0  # activation words they write
    ew_peak: int = 0  # the most words one element-wise op of the layer reads and writes (its working set)
    # The forward MAC ops as GEMMs, for the mappers (cost/mappers/): one entry per
    # distinct shape, [M, K, N, groups, A elems, B elems, C elems, B is a weight, calls], where each
    # of `groups` independent products is (M x K) @ (K x N); B is the weight operand when there is
    # one (a convolution's im2col view: M = batch x output positions, K = Cin/groups x kernel).
    gemms: list[list[int]] = field(default_factory=list)
    # The same ops' geometry (kernel, stride, padding, dilation, groups, shapes): one dict per
    # distinct geometry with its calls; read with cost/geometry.py's `geometries(layer)`.
    geometry: list[dict] = field(default_factory=list)

    @property
    def trainable(self) -> bool:
        return self.trainable_elems > 0

    @property
    def train_macs(self) -> int:
        return self.fwd_macs + self.bwd_input_macs + self.bwd_weight_macs

    @property
    def ew_ops(self) -> int:
        return self.ew_fwd_mults + self.ew_fwd_adds + self.ew_bwd_mults + self.ew_bwd_adds


@dataclass
class StepProfile:
    """The counted ops of one step; plain data (no tensors), so the ledger and energy math
    need no torch."""

    kind: str  # "train" (count_step) or "forward" (count_forward)
    fwd_macs: int = 0
    bwd_input_macs: int = 0
    bwd_weight_macs: int = 0
    update_mults: int = 0
    update_adds: int = 0
    layers: list[LayerCost] = field(default_factory=list)
    uncounted_ops: dict[str, int] = field(default_factory=dict)  # op -> calls seen, neither MACs nor priced
    layout_ops: dict[str, int] = field(default_factory=dict)  # op -> calls of views and copies (no arithmetic)
    update_dispatched: dict[str, int] = field(default_factory=dict)  # optimizer ops -> elements
    update_dispatched_ops: int = 0  # what those ops cost by the element-wise table (this very step)
    batch_size: int = 0
    optimizer: str = ""  # e.g. "SGD(momentum=0.9, weight_decay=0.0005)"
    update_source: str = "none"  # "table" (per-element table), "dispatched", or "none"
    notes: list[str] = field(default_factory=list)

    @property
    def update_ops(self) -> int:
        return self.update_mults + self.update_adds

    @property
    def train_macs(self) -> int:
        return self.fwd_macs + self.bwd_input_macs + self.bwd_weight_macs

    @property
    def updated_elems(self) -> int:
        return sum(layer.trainable_elems for layer in self.layers)

    @property
    def ew_mults(self) -> int:
        return sum(layer.ew_fwd_mults + layer.ew_bwd_mults for layer in self.layers)

    @property
    def ew_adds(self) -> int:
        return sum(layer.ew_fwd_adds + layer.ew_bwd_adds for layer in self.layers)

    @property
    def ew_fwd_ops(self) -> int:
        return sum(layer.ew_fwd_mults + layer.ew_fwd_adds for layer in self.layers)

    @property
    def ew_bwd_ops(self) -> int:
        return sum(layer.ew_bwd_mults + layer.ew_bwd_adds for layer in self.layers)

    @property
    def ew_ops(self) -> int:
        return self.ew_mults + self.ew_adds

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(update_ops=self.update_ops, train_macs=self.train_macs, ew_fwd_ops=self.ew_fwd_ops,
                 ew_bwd_ops=self.ew_bwd_ops, ew_mults=self.ew_mults, ew_adds=self.ew_adds)
        return d
