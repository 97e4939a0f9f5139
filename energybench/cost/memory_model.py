"""Memory accesses of a step and storage of a model, under a documented dataflow.

Word accesses per layer and step (a word is one value at the run's precision), for a layer
with W weight elements (Parameters its ops read), I/O activation elements in/out of its MAC
ops (summed over calls, batch included), P forward calls, U trainable elements (updated by
the optimizer) and S optimizer-state elements (momentum buffers, Adam moments):

  forward               read W*P weights + I activations; write O activations
  backward-to-input     read O output gradients + W*P weights; write I input gradients
  backward-to-weights   read O output gradients + I saved activations (written in forward,
                        read back here); write U weight gradients
  update                read U weights + U gradients + S state; write U weights + S state

So frozen weights are never written, a frozen prefix has no backward and no activation
read-back, and the first layer writes no input gradient. In these accesses, element-wise
layers (batch norm, ReLU, pooling, residual adds) are taken as fused into the producing
layer's output write: they add no activation traffic, only their own parameters' reads (and,
when trainable, gradient writes and updates).

Element-wise work is also accounted apart, unfused (`elementwise_accesses`): every
element-wise op (layer norm, softmax, GELU, residual adds, ...; the bias adds inside MAC ops
excepted) reads its activation inputs and writes its outputs, as eager PyTorch executes it, in
the forward and the backward. Those words are reported in their own columns, so the fused
figures above stay comparable across networks and a transformer's norm/softmax/GELU traffic is
visible on its own.

Pure functions over the counter's plain data: no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Iterable

from energybench.cost.tables import precision_bits

if TYPE_CHECKING:
    from energybench.cost.step import LayerCost, StepProfile


@dataclass(frozen=True)
class Accesses:
    """Word accesses of one layer in one step, by data kind."""

    weight_reads: int = 0
    weight_writes: int = 0
    act_reads: int = 0
    act_writes: int = 0
    act_grad_reads: int = 0
    act_grad_writes: int = 0
    weight_grad_reads: int = 0
    weight_grad_writes: int = 0
    state_reads: int = 0
    state_writes: int = 0

    @property
    def reads(self) -> int:
        return self.weight_reads + self.act_reads + self.act_grad_reads + self.weight_grad_reads + self.state_reads

    @property
    def writes(self) -> int:
        return (self.weight_writes + self.act_writes + self.act_grad_writes + self.weight_grad_writes
                + self.state_writes)

    def __add__(self, other: "Accesses") -> "Accesses":
        return Accesses(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def layer_accesses(layer: "LayerCost") -> Accesses:
    """Word accesses of one layer in one step (see the module docstring)."""
    w, i, o, u, s = layer.weight_elems, layer.in_elems, layer.out_elems, layer.trainable_elems, layer.state_elems
    w_passes = w * layer.calls
    has_fwd = layer.fwd_macs > 0 or w > 0
    bwd_in = layer.bwd_input_macs > 0
    bwd_w = layer.bwd_weight_macs > 0
    return Accesses(
        weight_reads=(w_passes if has_fwd else 0) + (w_passes if bwd_in else 0) + u,
        weight_writes=u,
        act_reads=(i if has_fwd else 0) + (i if bwd_w else 0),
        act_writes=o if has_fwd else 0,
        act_grad_reads=(o if bwd_in else 0) + (o if bwd_w else 0),
        act_grad_writes=i if bwd_in else 0,
        weight_grad_reads=u,
        weight_grad_writes=u,
        state_reads=s,
        state_writes=s,
    )


def working_set_words(layer: "LayerCost") -> int:
    """Words one call of the layer touches: its weights plus one call's activations in and out;
    the SRAM that holds the layer is sized from this."""
    calls = max(layer.calls, 1)
    return layer.weight_elems + -(-(layer.in_elems + layer.out_elems) // calls)


def elementwise_accesses(layer: "LayerCost") -> tuple[int, int]:
    """(reads, writes) in words of the layer's element-wise ops, unfused, forward and backward."""
    return layer.ew_reads, layer.ew_writes


def elementwise_working_set_words(layer: "LayerCost") -> int:
    """Words the layer's largest element-wise op reads and writes, plus the layer's weights: the
    SRAM that serves its element-wise traffic is sized from this (ops stream one after another,
    so their traffic, summed over the forward and backward, is not one working set)."""
    return layer.weight_elems + layer.ew_peak


def step_accesses(profile: "StepProfile") -> Accesses:
    total = Accesses()
    for layer in profile.layers:
        total = total + layer_accesses(layer)
    return total


def storage_bytes(modules: Iterable, exemplar_bytes: int = 0, precision: str = "fp32") -> int:
    """Bytes to store the parameters of `modules` (a base network and its branches) at the
    precision, each tensor once however many modules share it, plus exemplar bytes.

    Batch-norm running statistics are not counted: at inference they fold into the preceding
    convolution's weights and bias.
    """
    if hasattr(modules, "parameters"):  # one module given on its own
        modules = [modules]
    seen: set[int] = set()
    elems = 0
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                elems += p.numel()
    return elems * precision_bits(precision) // 8 + int(exemplar_bytes)
