"""Checkpoints of a run directory (a base phase's `*_base.pt`, an unfinished cell's
`progress.pt`): written atomically, read without running anything a file contains.

A checkpoint holds the method object (its networks, exemplar memory, tree) and random
number generator states. torch.save pickles them, and a pickle can run any code when it is
loaded, while run directories travel between people. So checkpoints are read with
`torch.load(weights_only=True)`: its unpickler builds tensors, plain containers and only the
classes listed by `checkpoint_globals` (energybench's methods, networks and their helpers,
and PyTorch's and torchvision's layers), and refuses any other global: a crafted file is
refused with a clear message and nothing in it runs. What loads is then checked against the
structure energybench writes for that kind of checkpoint (`STRUCTURE`), in files and in the
bytes Ray workers receive alike, so that a valid torch file of another shape is refused the same
way rather than failing later with a KeyError.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from energybench.errors import UserError, shown
from energybench.files import atomic_write
from energybench.methods.base import Method
from energybench.methods.memory import ExemplarMemory
from energybench.methods.tree_model import Node
from energybench.models.layout import _nchw_input
from energybench.models.surgery import Cut
from energybench.models.weights import NotLoadable, weights_only_load

# Packages whose nn.Module subclasses a checkpoint may hold. Building one runs only its
# constructor, which allocates layers; no function is allowed except the layout hook below.
MODULE_PACKAGES = ("torch.nn.", "torchvision.", "energybench.")
HELPERS = (ExemplarMemory, Node, Cut, _nchw_input)


def _subclasses(root: type) -> set[type]:
    found, stack = set(), [root]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def checkpoint_globals(extra_modules: tuple[str, ...] = ()) -> list:
    """What a checkpoint may contain beyond tensors and containers: every imported network
    layer of the packages above (and of `extra_modules`, e.g. a user's backbone module that
    the run's config names), every method class of energybench and of `extra_modules` (a
    user's method), and a few helpers."""
    extra = tuple(m if m.endswith(".") else m + "." for m in extra_modules)
    packages = MODULE_PACKAGES + extra
    layers = {c for c in _subclasses(nn.Module) if f"{c.__module__}.".startswith(packages)}
    methods = {c for c in _subclasses(Method) if f"{c.__module__}.".startswith(("energybench.", *extra))}
    return [*sorted(layers | methods, key=lambda c: (c.__module__, c.__qualname__)), *HELPERS]


def checkpoint_bytes(state: Any) -> bytes:
    """A state as a checkpoint file holds it (torch.save's bytes)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(path: Path, state: Any | bytes) -> None:
    """Atomically, so that a checkpoint is either the old one or the new one, never half; a
    state that arrives as bytes (from a Ray worker) is written as it is."""
    atomic_write(path, state if isinstance(state, bytes) else checkpoint_bytes(state))


def load_checkpoint(path: Path | BinaryIO | bytes, map_location: torch.device | str = "cpu",
                    extra_modules: tuple[str, ...] = (), kind: str | None = None, method: str | None = None) -> Any:
    """Read a checkpoint energybench wrote (a file, or its bytes); refuse anything else
    without running it. With `kind` ("base" or "progress") the loaded state must also have the
    structure energybench gives that kind, holding the method named `method` (when given): a
    well-formed file of another structure is refused like a crafted one, not left to fail
    later with a KeyError."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        with torch.serialization.safe_globals(checkpoint_globals(extra_modules)):
            state = weights_only_load(source, map_location)
    except NotLoadable as exc:
        if exc.refused:
            raise _refused(path, str(exc)) from None
        raise UserError(f"{_name(path)} cannot be read as a checkpoint ({exc}); delete it to recompute that part "
                        "of the run") from None
    if kind is not None:
        problem = _structure_problem(state, kind, method)
        if problem:
            raise _refused(path, problem)
    return state


def _refused(source, what: str) -> UserError:
    return UserError(f"{_name(source)} was refused: it is not a checkpoint energybench wrote, or it was altered "
                     f"({what}). Nothing in it was run. Delete it to recompute that part of the run")


def _name(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "a checkpoint sent through Ray"


# ----- the structure energybench writes (engine/cell.py: CellWork.base and CellWork.cell) ---------------
def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(v) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


def _scalar_row(v) -> bool:
    """A metrics.csv row: names to plain values, with the accuracy every later phase builds on."""
    return (isinstance(v, dict) and all(isinstance(k, str) for k in v)
            and all(x is None or isinstance(x, (str, int, float)) for x in v.values()) and _number(v.get("acc_all")))


def _rng_state(v) -> bool:
    """A CPU generator's state, as torch.get_rng_state() and Generator.get_state() give it."""
    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.shape == torch.get_rng_state().shape


# key -> (test, what the test wants, as the refusal names it)
STRUCTURE = {
    "base": {
        "method": (lambda v: isinstance(v, Method), "a method object"),
        "row": (_scalar_row, "a metrics row with acc_all"),
        "group_acc": (_numbers, "a list of accuracies"),
        "confusion": (lambda v: isinstance(v, str), "text"),
    },
    "progress": {
        "method": (lambda v: isinstance(v, Method), "a method object"),
        "history": (lambda v: isinstance(v, list) and all(_numbers(x) for x in v), "a list of accuracy lists"),
        "accs": (lambda v: _numbers(v) and len(v) > 0, "a non-empty list of accuracies"),
        "trainer_rng": (_rng_state, "a random generator state"),
        "torch_rng": (_rng_state, "a random generator state"),
    },
}
OPTIONAL = {"base": {"energy_levels": (lambda v: v is None or isinstance(v, str), "text")}, "progress": {}}


def _described(v) -> str:
    """A wrong value in a few words on one line (a tensor's or a network's repr spans lines)."""
    if isinstance(v, torch.Tensor):
        return f"a {str(v.dtype).removeprefix('torch.')} tensor of shape {tuple(v.shape)}"
    if isinstance(v, nn.Module):
        return f"a {type(v).__name__} network"
    return " ".join(shown(v).split())


def _structure_problem(state: Any, kind: str, method: str | None) -> str | None:
    """What is wrong with a loaded `kind` state, in a few words; None when it is what energybench writes."""
    if not isinstance(state, dict):
        return f"it holds {type(state).__name__}, not the mapping of a {kind} checkpoint"
    missing = [k for k in STRUCTURE[kind] if k not in state]
    if missing:
        return f"no {', '.join(repr(k) for k in missing)} in it"
    for key, (ok, want) in {**STRUCTURE[kind], **OPTIONAL[kind]}.items():
        if key in state and not ok(state[key]):
            return f"its {key!r} is {_described(state[key])}, not {want}"
    if method is not None and state["method"].name != method:
        return f"it holds the method {state['method'].name!r}, not {method!r}"
    if kind == "progress" and len(state["history"]) != len(state["accs"]):
        return f"its 'history' has {len(state['history'])} phases and its 'accs' {len(state['accs'])}"
    return None
