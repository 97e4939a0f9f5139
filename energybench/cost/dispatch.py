"""The dispatch-mode side of the op counter: a TorchDispatchMode that sees every aten op that
runs, decides once per op what it is (a MAC op, attention, element-wise work, layout, a
composite to decompose, or unknown) and hands it to the counter (cost/counter.py), which keeps
the counts; and the walks over an op's arguments that every dispatched op goes through."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from energybench.cost import attention as attn
from energybench.cost import elementwise as ew
from energybench.cost.op_handles import CONV_OPS, MAC_HANDLES

aten = torch.ops.aten


def tensors(obj, found: list | None = None) -> list[torch.Tensor]:
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
                tensors(item, found)
    elif isinstance(obj, dict):
        tensors(list(obj.values()), found)
    return found


def is_parameter(t: torch.Tensor) -> bool:
    """isinstance(t, nn.Parameter), quick for the two common cases: Parameter's metaclass check
    looks up a `_is_param` attribute, which is slow on tensors and runs for every forward op."""
    cls = type(t)
    if cls is nn.Parameter:
        return True
    if cls is torch.Tensor:
        return False
    return isinstance(t, nn.Parameter)


def elements(out) -> int:
    return sum(t.numel() for t in tensors(out))

# What the counting mode does with an op, decided once per op (the mode sees every op).
(_PLAIN, _MARKER, _CONV_BACKWARD, _MAC, _COMPOSITE, _ATTENTION, _ATTENTION_BACKWARD, _FAST_PATH, _LAYOUT,
 _ELEMENTWISE) = range(10)
_ROLE: dict[Any, int] = {}
_DATA_ROLE: dict[Any, int] = {}


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
        elif packet in MAC_HANDLES:
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


class CountingMode(TorchDispatchMode):
    def __init__(self, counter):  # cost/counter.py's OpCounter (which imports this module)
        super().__init__()
        self.c = counter

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # False: PyTorch leaves __torch_dispatch__ as it is, not wrapped in torch.compile's guard,
        # which imports torch._dynamo (1.4 s) at the first op counted; nothing counted is compiled
        return False

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
            if node is None or packet in CONV_OPS:  # forward (a convolution in backward is a recompute)
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
