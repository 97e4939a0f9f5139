"""The op counter: MACs and update ops of one step, counted from what PyTorch dispatches.

A TorchDispatchMode sees every aten op that really runs (forward, autograd's backward ops,
the optimizer's element-wise ops), so frozen layers, extra no-grad forwards of an old model
and cached trunk features are accounted for without per-method code:

- forward MAC ops (convolution, mm/addmm/bmm/baddbmm/mv/addmv/dot) are attributed to the
  innermost module running (global forward hooks keep a module stack);
- each forward MAC op is linked to the autograd node that will differentiate it
  (`out.grad_fn`), so its backward ops (seen under `torch._C._current_autograd_node()`)
  are attributed to the same module, and each backward op is classified by which forward
  operand it is the gradient of: the gradient of a weight-derived operand (a Parameter, or
  a tensor computed only from Parameters, e.g. `w.t()` or a normalised weight) is
  backward-to-weights, any other is backward-to-input. Autograd only computes what is
  needed, so a frozen prefix has no backward, a frozen layer after a trainable one has
  backward-to-input only, and the first layer (input needs no grad) has no input gradient;
- fused attention kernels (scaled dot-product attention: flash, memory-efficient, cuDNN, the
  CPU flash kernel; forward and backward) and the inference fast paths of
  nn.MultiheadAttention and nn.TransformerEncoderLayer are counted from their shapes
  (cost/attention.py): QK^T and attention x V are MACs between activations;
- every other op is element-wise work (priced per op by cost/elementwise.py, with the
  activation words it reads and writes), a layout op (views, copies, concatenation: listed,
  not costed), or unknown (listed in `uncounted_ops`); element-wise ops in the backward land
  on the module of the forward op they differentiate;
- ops dispatched between an optimizer's step pre- and post-hooks are the update.

Backward MACs are those the backward ops perform (for conv and mm exactly the forward's
count per gradient). Update ops follow a documented per-element table for SGD and
Adam/AdamW (steady state; the first step initialises momentum buffers by copying instead),
verified against the dispatched ops in the tests; other optimizers are costed from their
dispatched ops.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypeVar

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from energybench.cost import attention as attn
from energybench.cost import elementwise as ew
from energybench.cost.geometry import add_geometry, conv_geometry, gemm_geometry

aten = torch.ops.aten
T = TypeVar("T")


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


# ----- MAC formulas (shapes in, MACs out) ------------------------------------------------------

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


# op -> (indices of the two multiplied operands, MAC formula over their shapes)
_MATMUL_OPS = {
    aten.mm: ((0, 1), _mm_macs),
    aten.addmm: ((1, 2), _mm_macs),
    aten.bmm: ((0, 1), _bmm_macs),
    aten.baddbmm: ((1, 2), _bmm_macs),
    aten.addbmm: ((1, 2), _bmm_macs),
    aten.mv: ((0, 1), lambda a, v: a[0] * a[1]),
    aten.addmv: ((1, 2), lambda a, v: a[0] * a[1]),
    aten.dot: ((0, 1), lambda a, b: a[0]),
}
_CONV_OPS = {aten.convolution, aten._convolution, aten.convolution_overrideable}


def _gemm(packet, args, ops, is_weight, out) -> tuple[int, ...]:
    """(M, K, N, groups, A elems, B elems, C elems, B is a weight) of a forward MAC op."""
    a, b = ops
    if packet in _CONV_OPS:
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


def _add_gemm(layer: LayerCost, key: tuple[int, ...]) -> None:
    for rec in layer.gemms:
        if tuple(rec[:-1]) == key:
            rec[-1] += 1
            return
    layer.gemms.append([*key, 1])


# ----- optimizer update cost -------------------------------------------------------------------

# (mults, adds) per output element of the element-wise ops optimizers dispatch. A division or
# square root is priced as one multiply (a documented underestimate); copies, fills and
# zero-initialisation are data movement (memory model), not arithmetic.
def _elementwise_cost(name: str, args, kwargs) -> tuple[int, int] | None:
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


def _tensors(obj, found: list | None = None) -> list[torch.Tensor]:
    """The tensors in an op's arguments or outputs (nested tuples, lists, dicts). A plain walk:
    it runs for every dispatched op, where torch's general pytree walk costs several times more."""
    found = [] if found is None else found
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            if isinstance(item, torch.Tensor):
                found.append(item)
            elif isinstance(item, (tuple, list, dict)):
                _tensors(item, found)
    elif isinstance(obj, dict):
        _tensors(list(obj.values()), found)
    return found


def _is_parameter(t: torch.Tensor) -> bool:
    """isinstance(t, nn.Parameter), quick for the two common cases: Parameter's metaclass check
    looks up a `_is_param` attribute, which is slow on tensors and runs for every forward op."""
    cls = type(t)
    if cls is nn.Parameter:
        return True
    if cls is torch.Tensor:
        return False
    return isinstance(t, nn.Parameter)


def _elements(out) -> int:
    return sum(t.numel() for t in _tensors(out))


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


def _describe_optimizer(opt: torch.optim.Optimizer) -> str:
    g = opt.param_groups[0]
    keys = [k for k in ("lr", "momentum", "dampening", "nesterov", "weight_decay", "betas", "eps", "amsgrad")
            if k in g and not isinstance(g[k], torch.Tensor)]
    return f"{type(opt).__name__}(" + ", ".join(f"{k}={g[k]}" for k in keys) + ")"


# ----- the counter -----------------------------------------------------------------------------

@dataclass
class _MacRecord:
    """A forward MAC op, kept until autograd differentiates it."""

    layer: LayerCost
    shapes: list[tuple[int, ...]]
    is_weight: list[bool]
    needs_grad: list[bool]
    done: list[bool] = field(default_factory=lambda: [False, False])
    attention: attn.Attention | None = None  # a fused attention kernel (operands q, k, v)


class OpCounter:
    """Context manager counting everything dispatched inside it; `profile()` after exit.

    `model` names the layers (fully qualified names); modules outside it that run (an old
    model for distillation) are named `extraN.<path>`.
    """

    def __init__(self, model: nn.Module | None = None, kind: str = "train"):
        self.kind = kind
        self._names: dict[int, str] = {}
        if model is not None:
            for name, m in model.named_modules():
                self._names[id(m)] = name or "(model)"
        self._in_model = set(self._names)
        self._extra = 0
        self._stack: list[nn.Module] = []
        self._layers: dict[int, LayerCost] = {}
        self._calls: Counter = Counter()
        self._param_owner: dict[int, LayerCost] = {}
        self._weights: dict[int, weakref.ref] = {}  # weight-derived non-Parameter tensors
        self._pending: list[tuple[torch.Tensor, _MacRecord]] = []
        self._nodes: dict[Any, _MacRecord] = {}
        self._uncounted: Counter = Counter()
        self._layout: Counter = Counter()
        self._default_priced: Counter = Counter()
        # autograd node -> the LayerCost (MAC ops) or module (other ops) of the forward op it differentiates
        self._node_owner: dict[Any, Any] = {}
        self._pending_owner: list[tuple[torch.Tensor, Any]] = []
        self._update_dispatched: Counter = Counter()
        self._update_dispatched_cost = [0, 0]
        self._table_cost = [0, 0]
        self._table_ok = True
        self._optimizers: list[str] = []
        self._updated: list[tuple[torch.optim.Optimizer, nn.Parameter]] = []
        self._in_update = False
        self._batch = 0
        self._unattributed_bwd = 0
        self.notes: list[str] = []

    # --- module tracking ---
    def _name(self, m: nn.Module) -> str:
        key = id(m)
        if key not in self._names:
            parent = self._stack[-1] if self._stack else None
            prefix = None
            if parent is not None:
                for child_name, child in parent.named_children():
                    if child is m:
                        prefix = f"{self._names[id(parent)]}.{child_name}"
            if prefix is None:  # a new root, e.g. an old model run for distillation
                prefix = f"extra{self._extra}"
                self._extra += 1
            for sub, mod in m.named_modules():
                self._names.setdefault(id(mod), f"{prefix}.{sub}" if sub else prefix)
        return self._names[key]

    def _pre_hook(self, m, args):
        self._name(m)
        if not self._batch and id(m) in self._in_model:
            first = next((a for a in _tensors(args) if a.dim()), None)
            if first is not None:
                self._batch = int(first.shape[0])
        self._stack.append(m)
        self._calls[id(m)] += 1

    def _post_hook(self, m, args, out):
        if self._stack and self._stack[-1] is m:
            self._stack.pop()

    def _layer(self) -> LayerCost:
        return self._layer_of(self._stack[-1] if self._stack else None)

    def _layer_of(self, m) -> LayerCost:
        key = id(m)
        layer = self._layers.get(key)
        if layer is None:
            if m is _BACKWARD:  # a backward op whose forward op was not seen (e.g. gradient accumulation)
                name = mtype = "(backward)"
            elif m is None:  # outside every module: the loss, functional code in the step
                name, mtype = "(no module)", "functional"
            else:
                name, mtype = self._names[key], type(m).__name__
            layer = self._layers[key] = LayerCost(name, mtype, mtype)
        return layer

    def _owner_layer(self, node) -> LayerCost:
        """The layer a backward op belongs to: that of the forward op its autograd node differentiates."""
        owner = self._node_owner.get(node, _BACKWARD)
        return owner if isinstance(owner, LayerCost) else self._layer_of(owner)

    def _note_output(self, out) -> None:
        """Remember which module made a forward output, so the backward ops of its autograd node
        (known once the op returns) are attributed to it."""
        first = out if isinstance(out, torch.Tensor) else next(iter(_tensors(out)), None)
        if first is not None:
            self._pending_owner.append((first, self._stack[-1] if self._stack else None))

    # --- weight-derived tensors ---
    def _is_weight(self, t) -> bool:
        if _is_parameter(t):
            return True
        ref = self._weights.get(id(t))
        return ref is not None and ref() is t

    def _mark_weight(self, t: torch.Tensor) -> None:
        key = id(t)
        self._weights[key] = weakref.ref(t, lambda _r, k=key: self._weights.pop(k, None))

    def _track_forward(self, args, kwargs, out) -> None:
        tensors = _tensors(args, _tensors(kwargs) if kwargs else None)
        all_weights = bool(tensors)
        for t in tensors:
            if _is_parameter(t):
                if id(t) not in self._param_owner:
                    layer = self._layer()
                    layer.weight_elems += t.numel()
                    self._param_owner[id(t)] = layer
            elif all_weights and not self._is_weight(t):
                all_weights = False
        if all_weights:
            for o in _tensors(out):
                if not _is_parameter(o):
                    self._mark_weight(o)

    # --- MAC ops ---
    def _resolve_pending(self) -> None:
        for out, rec in self._pending:
            if out.grad_fn is not None:
                self._nodes[out.grad_fn] = rec
                self._node_owner[out.grad_fn] = rec.layer
        self._pending.clear()
        for out, module in self._pending_owner:
            if out.grad_fn is not None:
                self._node_owner.setdefault(out.grad_fn, module)
        self._pending_owner.clear()

    def _forward_mac(self, packet, args, kwargs, out) -> None:
        layer = self._layer()
        if packet in _CONV_OPS:
            x, w, transposed = args[0], args[1], bool(args[6])
            ops = [x, w]
            macs = conv_macs(x.shape, w.shape, out.shape, transposed)
            kind = "conv"
        else:
            (i, j), formula = _MATMUL_OPS[packet]
            ops = [args[i], args[j]]
            macs = formula(ops[0].shape, ops[1].shape)
            kind = None
        is_weight = [self._is_weight(t) for t in ops]
        gemm = _gemm(packet, args, ops, is_weight, out)
        _add_gemm(layer, gemm)
        if packet in _CONV_OPS:  # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
            geo = conv_geometry(x.shape, w.shape, out.shape, args[3], args[4], args[5], transposed, args[7],
                                int(args[8]))
        else:
            geo = gemm_geometry(*gemm[:4], weight=bool(gemm[7]))
        add_geometry(layer.geometry, geo)
        if kind is None:
            kind = "linear" if any(is_weight) else "matmul"
        if layer.kind == layer.module_type or layer.kind == "matmul":
            layer.kind = kind
        layer.fwd_macs += macs
        layer.in_elems += sum(t.numel() for t, w in zip(ops, is_weight) if not w)
        layer.out_elems += out.numel()
        # the bias (convolution) or `self` (addmm, baddbmm, ...) added to the products: element-wise
        # adds, fused into the output write (no traffic of their own); beta/alpha other than 1 scale
        if packet in _CONV_OPS:
            if args[2] is not None:
                layer.ew_fwd_adds += out.numel()
        elif packet not in (aten.mm, aten.bmm, aten.mv, aten.dot):
            layer.ew_fwd_adds += out.numel()
            scaled = [kwargs.get(k, 1) != 1 for k in ("beta", "alpha")]
            layer.ew_fwd_mults += out.numel() * sum(scaled)
        needs = [t.requires_grad for t in ops]
        if any(needs):
            self._pending.append((out, _MacRecord(layer, [tuple(t.shape) for t in ops], is_weight, needs)))

    def _grad_macs(self, rec: _MacRecord | None, slot: int, macs: int) -> None:
        if rec is None:
            self._unattributed_bwd += macs
            return
        if rec.is_weight[slot]:
            rec.layer.bwd_weight_macs += macs
        else:
            rec.layer.bwd_input_macs += macs

    def _backward_mac(self, packet, args, out, rec: _MacRecord | None) -> None:
        if packet is aten.convolution_backward:
            grad_out, x, w, transposed, mask = args[0], args[1], args[2], bool(args[7]), args[10]
            macs = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
            for slot in (0, 1):  # grad wrt input, grad wrt weight; mask[2] (bias) is a sum, not MACs
                if mask[slot]:
                    self._grad_macs(rec, slot, macs)
            if mask[2]:  # the bias gradient: output gradients summed over batch and positions
                layer = rec.layer if rec is not None else self._layer_of(_BACKWARD)
                layer.ew_bwd_adds += grad_out.numel() - grad_out.shape[1]
            return
        (i, j), formula = _MATMUL_OPS[packet]
        macs = formula(args[i].shape, args[j].shape)
        slot = 0
        if rec is not None:
            # autograd may compute a gradient transposed (then transposes it back) to match
            # the operand's memory layout, so either orientation identifies the operand
            shape = tuple(out.shape)
            flipped = shape[:-2] + shape[-2:][::-1]
            fits = [s for s in (0, 1) if rec.shapes[s] in (shape, flipped) and rec.needs_grad[s]]
            open_ = [s for s in fits if not rec.done[s]] or fits
            if not open_:
                self.notes.append(f"backward {packet} of shape {shape} matched no operand of "
                                  f"{rec.layer.name}; counted as backward-to-input")
                rec.layer.bwd_input_macs += macs
                return
            slot = open_[0]
            rec.done[slot] = True
        self._grad_macs(rec, slot, macs)

    # --- attention ---
    def _forward_attention(self, func, args, kwargs, out) -> None:
        layer = self._layer()
        a = attn.sdpa(func, args, kwargs)
        ops = list(args[:3])  # query, key, value come first in every variant
        is_weight = [self._is_weight(t) for t in ops]
        if layer.kind == layer.module_type or layer.kind == "matmul":
            layer.kind = "linear" if any(is_weight) else "attention"
        layer.fwd_macs += a.macs
        layer.in_elems += sum(t.numel() for t, w in zip(ops, is_weight) if not w)
        layer.out_elems += out[0].numel()
        for gemm in a.gemms(is_weight[1], is_weight[2]):
            _add_gemm(layer, gemm)
        mults, adds = a.forward_elementwise()
        layer.ew_fwd_mults += mults
        layer.ew_fwd_adds += adds
        needs = [t.requires_grad for t in ops]
        if any(needs):
            rec = _MacRecord(layer, [tuple(t.shape) for t in ops], is_weight, needs, attention=a)
            self._pending.append((out[0], rec))

    def _backward_attention(self, func, args, kwargs, rec: _MacRecord | None) -> None:
        if rec is None or rec.attention is None:  # no forward seen: every operand's gradient, unattributed
            a, needs, layer = attn.sdpa(func, args, kwargs), (True, True, True), self._layer_of(_BACKWARD)
            self._unattributed_bwd += sum(m for _, m in a.backward_macs(needs))
        else:
            a, needs, layer = rec.attention, tuple(rec.needs_grad), rec.layer
            for slot, macs in a.backward_macs(needs):
                if slot >= 0 and rec.is_weight[slot]:
                    layer.bwd_weight_macs += macs
                else:  # an activation's gradient, or dP
                    layer.bwd_input_macs += macs
        mults, adds = a.backward_elementwise(needs)
        layer.ew_bwd_mults += mults
        layer.ew_bwd_adds += adds

    def _fast_path(self, func, args, kwargs, out) -> None:
        fp = attn.fast_path(func, args, kwargs, out)
        if fp is None:
            self._uncounted[func._overloadpacket] += 1
            self.notes.append(f"{func._overloadpacket} on nested (padded) inputs: not counted")
            return
        layer = self._layer()
        if layer.kind == layer.module_type or layer.kind == "matmul":
            layer.kind = "linear"
        layer.fwd_macs += fp.weight_macs + fp.attention_macs
        layer.in_elems += fp.in_elems
        layer.out_elems += fp.out_elems
        for gemm in fp.gemms:
            _add_gemm(layer, gemm)
        layer.ew_fwd_mults += fp.elementwise[0]
        layer.ew_fwd_adds += fp.elementwise[1]

    # --- element-wise work ---
    def _elementwise(self, func, args, kwargs, out, node) -> None:
        (mults, adds), default = ew.op_cost(func, args, kwargs, out)
        if default:
            self._default_priced[func._overloadpacket] += 1
        inputs = _tensors(args, _tensors(kwargs) if kwargs else None)
        if node is None:  # forward: weights it reads are the layer's weight reads already
            layer = self._layer()
            layer.ew_fwd_mults += mults
            layer.ew_fwd_adds += adds
            reads = sum(ew.distinct(t) for t in inputs if not self._is_weight(t))
            if torch.is_grad_enabled():
                self._note_output(out)
        else:
            layer = self._owner_layer(node)
            layer.ew_bwd_mults += mults
            layer.ew_bwd_adds += adds
            reads = sum(ew.distinct(t) for t in inputs)
        writes = ew.written(func, out)
        layer.ew_reads += reads
        layer.ew_writes += writes
        layer.ew_peak = max(layer.ew_peak, reads + writes)

    # --- optimizer ---
    def _opt_pre(self, opt, args, kwargs):
        self._in_update = True
        self._optimizers.append(_describe_optimizer(opt))
        for group in opt.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            self._updated += [(opt, p) for p in params]
            per = optimizer_update_table(opt, group)
            if per is None:
                self._table_ok = False
                continue
            n = sum(p.numel() for p in params)
            self._table_cost[0] += per[0] * n
            self._table_cost[1] += per[1] * n + per[2] * len(params)

    def _opt_post(self, opt, args, kwargs):
        self._in_update = False

    def _count_update(self, packet, args, kwargs, out) -> None:
        name = packet.__name__
        cost = _elementwise_cost(name, args, kwargs)
        n = _elements(out if out is not None else args[0])  # in-place foreach ops return None
        if cost is None:  # matters only where the dispatched ops are the source (no table)
            self.notes.append(f"optimizer op aten.{name} has no element-wise cost; not counted")
            cost = (0, 0)
        self._update_dispatched[f"aten.{name}"] += n
        self._update_dispatched_cost[0] += cost[0] * n
        self._update_dispatched_cost[1] += cost[1] * n

    # --- context ---
    def __enter__(self) -> "OpCounter":
        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(self._pre_hook),
            nn.modules.module.register_module_forward_hook(self._post_hook, always_call=True),
            register_optimizer_step_pre_hook(self._opt_pre),
            register_optimizer_step_post_hook(self._opt_post),
        ]
        self._mode = _CountingMode(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._resolve_pending()
        self._nodes.clear()  # drop the graph references
        self._node_owner.clear()
        self._stack.clear()

    def profile(self) -> StepProfile:
        layers = list(self._layers.values())
        for key, layer in self._layers.items():
            layer.calls = self._calls.get(key, 0) or 1
        state_seen: set[int] = set()
        for opt, p in self._updated:
            layer = self._param_owner.get(id(p))
            if layer is None:
                layer = LayerCost("(unattributed params)", "params", "params", calls=1)
                self._param_owner[id(p)] = layer
                layers.append(layer)
            if id(p) in state_seen:
                continue
            state_seen.add(id(p))
            layer.trainable_elems += p.numel()
            layer.state_elems += sum(s.numel() for s in opt.state.get(p, {}).values()
                                     if isinstance(s, torch.Tensor) and s.numel() == p.numel())
        if self._unattributed_bwd:
            self.notes.append(f"{self._unattributed_bwd} backward MACs had no counted forward (counted as "
                              "backward-to-input of '(unattributed)')")
            layers.append(LayerCost("(unattributed)", "matmul", "functional", bwd_input_macs=self._unattributed_bwd))
        if self._updated and self._table_ok:
            mults, adds, source = *self._table_cost, "table"
        elif self._updated:
            mults, adds, source = *self._update_dispatched_cost, "dispatched"
            self.notes.append("update ops costed from the dispatched ops (no per-element table for "
                              f"{', '.join(sorted(set(self._optimizers)))})")
        else:
            mults, adds, source = 0, 0, "none"
        uncounted: Counter = Counter()
        for packet, n in self._uncounted.items():
            uncounted[str(packet)] += n
        layout: Counter = Counter()
        for packet, n in self._layout.items():
            layout[str(packet)] += n
        if self._default_priced:
            self.notes.append("element-wise ops without a table entry, priced at one add per output element "
                              "(reductions: one per input): " + ", ".join(sorted(map(str, self._default_priced))))
        return StepProfile(
            kind=self.kind,
            fwd_macs=sum(layer.fwd_macs for layer in layers),
            bwd_input_macs=sum(layer.bwd_input_macs for layer in layers),
            bwd_weight_macs=sum(layer.bwd_weight_macs for layer in layers),
            update_mults=mults, update_adds=adds,
            layers=layers,
            uncounted_ops=dict(sorted(uncounted.items())),
            layout_ops=dict(sorted(layout.items())),
            update_dispatched=dict(sorted(self._update_dispatched.items())),
            update_dispatched_ops=sum(self._update_dispatched_cost),
            batch_size=self._batch,
            optimizer=", ".join(dict.fromkeys(self._optimizers)),
            update_source=source,
            notes=list(dict.fromkeys(self.notes)),
        )


# What the counting mode does with an op, decided once per op (the mode sees every op).
(_PLAIN, _MARKER, _CONV_BACKWARD, _MAC, _COMPOSITE, _ATTENTION, _ATTENTION_BACKWARD, _FAST_PATH, _LAYOUT,
 _ELEMENTWISE) = range(10)
_ROLE: dict[Any, int] = {}
_DATA_ROLE: dict[Any, int] = {}
_BACKWARD = object()  # owner of backward ops whose forward op was not seen


def _data_role(func) -> int:
    """What an op that is neither a MAC nor attention does: element-wise work, layout, or unknown."""
    role = _DATA_ROLE.get(func)
    if role is None:
        kind = ew.classify(func)
        role = _DATA_ROLE[func] = {ew.ELEMENTWISE: _ELEMENTWISE, ew.LAYOUT_OP: _LAYOUT}.get(kind, _PLAIN)
    return role


def _role(func) -> int:
    role = _ROLE.get(func)
    if role is None:
        packet = func._overloadpacket
        composite = torch._C.DispatchKey.CompositeImplicitAutograd  # what OpOverload.decompose() looks for
        if func.namespace == "profiler":  # record_function markers, not work
            role = _MARKER
        elif packet is aten.convolution_backward:
            role = _CONV_BACKWARD
        elif packet in _CONV_OPS or packet in _MATMUL_OPS:
            role = _MAC
        elif packet in attn.FORWARD:
            role = _ATTENTION
        elif packet in attn.BACKWARD:
            role = _ATTENTION_BACKWARD
        elif packet in attn.FAST_PATH:
            role = _FAST_PATH
        elif func is not torch.ops.prim.device.default and (
                composite in func.py_kernels or torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), composite)):
            role = _COMPOSITE
        else:
            role = _data_role(func)
        _ROLE[func] = role
    return role


class _CountingMode(TorchDispatchMode):
    def __init__(self, counter: OpCounter):
        super().__init__()
        self.c = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        c = self.c
        if c._pending or c._pending_owner:  # the previous op's output now carries its autograd node
            c._resolve_pending()
        role = _ROLE.get(func)
        if role is None:
            role = _role(func)
        if role == _MARKER:
            return func(*args, **kwargs)
        packet = func._overloadpacket
        if c._in_update:
            out = func(*args, **kwargs)
            c._count_update(packet, args, kwargs, out)
            return out
        node = torch._C._current_autograd_node()
        if role == _CONV_BACKWARD:
            out = func(*args, **kwargs)
            c._backward_mac(packet, args, out, c._nodes.get(node))
            return out
        if role == _MAC:
            out = func(*args, **kwargs)
            if node is None or packet in _CONV_OPS:  # forward (a convolution in backward is a recompute)
                c._track_forward(args, kwargs, out)
                c._forward_mac(packet, args, kwargs, out)
            else:  # a matmul computing a gradient
                c._backward_mac(packet, args, out, c._nodes.get(node))
            return out
        if role == _ATTENTION:  # (inside a backward too: a recompute is forward work)
            out = func(*args, **kwargs)
            c._track_forward(args, kwargs, out)
            c._forward_attention(func, args, kwargs, out)
            return out
        if role == _ATTENTION_BACKWARD:
            out = func(*args, **kwargs)
            c._backward_attention(func, args, kwargs, c._nodes.get(node))
            return out
        if role == _FAST_PATH:
            out = func(*args, **kwargs)
            c._track_forward(args, kwargs, out)
            c._fast_path(func, args, kwargs, out)
            return out
        # Composite ops that reach this mode undecomposed (e.g. under inference_mode) are
        # decomposed so their convolutions and matmuls are seen, as FlopCounterMode does. Only
        # ops with a composite kernel are tried: re-entering the mode for the others would cost
        # more than the op.
        if role == _COMPOSITE:
            with self:
                r = func.decompose(*args, **kwargs)
            if r is not NotImplemented:
                return r
            role = _data_role(func)
        out = func(*args, **kwargs)
        if node is None:
            c._track_forward(args, kwargs, out)
        if role == _ELEMENTWISE:
            c._elementwise(func, args, kwargs, out, node)
            return out
        if role == _LAYOUT:
            c._layout[packet] += 1
        else:
            c._uncounted[packet] += 1  # named once, in profile()
        if node is None and torch.is_grad_enabled():
            c._note_output(out)
        return out


def count_step(step_fn: Callable[[], T], model: nn.Module | None = None) -> tuple[T, StepProfile]:
    """Run `step_fn()` once for real (forward, loss, backward, optimizer.step) under the
    counter; returns what it returned and its StepProfile. Extra forwards inside it (an old
    model under no_grad for distillation) count as forward MACs of the step."""
    with OpCounter(model, "train") as counter:
        result = step_fn()
    return result, counter.profile()


def count_forward(fn: Callable[[], T], model: nn.Module | None = None) -> tuple[T, StepProfile]:
    """Run `fn()` once under torch.no_grad and the counter (evaluation, feature caching);
    returns what it returned and its StepProfile."""
    with OpCounter(model, "forward") as counter, torch.no_grad():
        result = fn()
    return result, counter.profile()
