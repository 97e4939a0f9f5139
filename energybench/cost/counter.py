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

This module keeps the counts. The per-op formulas are in op_handles.py (one registry), the
dispatch mode that hands each op over in dispatch.py, the profile it returns in step.py.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from energybench.cost import attention as attn
from energybench.cost import elementwise as ew
from energybench.cost.dispatch import CountingMode, elements, is_parameter, tensors
from energybench.cost.geometry import add_geometry, conv_geometry, gemm_geometry
from energybench.cost.op_handles import (MAC_HANDLES, PLAIN_PRODUCTS, add_gemm, conv_macs, describe_optimizer,
                                         gemm_shape, optimizer_update_table, update_op_cost)
from energybench.cost.step import LayerCost, StepProfile

# re-exported: the profile's types and the formulas the tests check are imported from here
__all__ = ["LayerCost", "OpCounter", "StepProfile", "conv_macs", "count_forward", "count_step",
           "optimizer_update_table"]

T = TypeVar("T")
_BACKWARD = object()  # owner of backward ops whose forward op was not seen


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
            first = next((a for a in tensors(args) if a.dim()), None)
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
        first = out if isinstance(out, torch.Tensor) else next(iter(tensors(out)), None)
        if first is not None:
            self._pending_owner.append((first, self._stack[-1] if self._stack else None))

    # --- weight-derived tensors ---
    def _is_weight(self, t) -> bool:
        if is_parameter(t):
            return True
        ref = self._weights.get(id(t))
        return ref is not None and ref() is t

    def _mark_weight(self, t: torch.Tensor) -> None:
        key = id(t)
        self._weights[key] = weakref.ref(t, lambda _r, k=key: self._weights.pop(k, None))

    def _track_forward(self, args, kwargs, out) -> None:
        found = tensors(args, tensors(kwargs) if kwargs else None)
        all_weights = bool(found)
        for t in found:
            if is_parameter(t):
                if id(t) not in self._param_owner:
                    layer = self._layer()
                    layer.weight_elems += t.numel()
                    self._param_owner[id(t)] = layer
            elif all_weights and not self._is_weight(t):
                all_weights = False
        if all_weights:
            for o in tensors(out):
                if not is_parameter(o):
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
        handle = MAC_HANDLES[packet]
        i, j = handle.operands
        ops = [args[i], args[j]]
        macs = handle.macs(args, out)
        kind = "conv" if handle.conv else None
        is_weight = [self._is_weight(t) for t in ops]
        shape = gemm_shape(packet, args, ops, is_weight, out)
        add_gemm(layer, shape)
        if handle.conv:  # (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
            x, w = ops
            geo = conv_geometry(x.shape, w.shape, out.shape, args[3], args[4], args[5], bool(args[6]), args[7],
                                int(args[8]))
        else:
            geo = gemm_geometry(*shape[:4], weight=bool(shape[7]))
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
        if handle.conv:
            if args[2] is not None:
                layer.ew_fwd_adds += out.numel()
        elif packet not in PLAIN_PRODUCTS:
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
        handle = MAC_HANDLES[packet]
        macs = handle.macs(args, out)
        if packet is torch.ops.aten.convolution_backward:
            grad_out, mask = args[0], args[10]
            for slot in (0, 1):  # grad wrt input, grad wrt weight; mask[2] (bias) is a sum, not MACs
                if mask[slot]:
                    self._grad_macs(rec, slot, macs)
            if mask[2]:  # the bias gradient: output gradients summed over batch and positions
                layer = rec.layer if rec is not None else self._layer_of(_BACKWARD)
                layer.ew_bwd_adds += grad_out.numel() - grad_out.shape[1]
            return
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
            add_gemm(layer, gemm)
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
            add_gemm(layer, gemm)
        layer.ew_fwd_mults += fp.elementwise[0]
        layer.ew_fwd_adds += fp.elementwise[1]

    # --- element-wise work ---
    def _elementwise(self, func, args, kwargs, out, node) -> None:
        (mults, adds), default = ew.op_cost(func, args, kwargs, out)
        if default:
            self._default_priced[func._overloadpacket] += 1
        inputs = tensors(args, tensors(kwargs) if kwargs else None)
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
        self._optimizers.append(describe_optimizer(opt))
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
        cost = update_op_cost(name, args, kwargs)
        n = elements(out if out is not None else args[0])  # in-place foreach ops return None
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
        self._mode = CountingMode(self)
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
