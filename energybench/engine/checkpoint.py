"""Checkpoints of a run directory (a base phase's `*_base.pt`, an unfinished cell's
`progress.pt`), and the states Ray workers send: written atomically, read without running or
building anything a file names.

A checkpoint holds a method object (its networks, exemplar memory, tree) and random number
generator states, as tensors and plain containers only (engine/plain_state.py): it is read with
`torch.load(weights_only=True)` and no extra allowed globals, and the objects are rebuilt
without calling any constructor, from the classes of `checkpoint_classes` alone (energybench's
methods, networks and helpers, PyTorch's and torchvision's layers, the run's own user code). So
a checkpoint cannot allocate more than its own tensors, and a crafted one runs nothing.

It also records the identity of the run that wrote it (`run_identity`: the configuration and
the network's parameter shapes): a well-formed checkpoint of another run (another backbone,
width, input or configuration) is refused with a message naming what differs, and the
backbones it holds are checked against the run's network, shape by shape. What loads is
then checked against the structure energybench writes for that kind of checkpoint
(`STRUCTURE`), so that a valid torch file of another shape is refused the same way rather
than failing later with a KeyError.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from energybench.engine.plain_state import NotPlain, from_plain, to_plain
from energybench.errors import UserError, shown
from energybench.files import atomic_write
from energybench.methods.base import Method
from energybench.methods.memory import ExemplarMemory
from energybench.methods.tree_model import Node
from energybench.models.backbone import Backbone
from energybench.models.layout import _nchw_input
from energybench.models.surgery import Cut
from energybench.models.weights import NotLoadable, weights_only_load

FORMAT = 2  # 1: pickled objects (refused now: their classes' constructors could be called)
# Packages whose nn.Module subclasses a checkpoint may name. No constructor is ever called;
# no function is allowed except the layout hook below.
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


def checkpoint_classes(extra_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The names a checkpoint may give its objects, and their classes: every imported network
    layer of the packages above (and of `extra_modules`, e.g. a user's backbone module that the
    run's config names), every method class of energybench and of `extra_modules` (a user's
    method), and a few helpers."""
    extra = tuple(m if m.endswith(".") else m + "." for m in extra_modules)
    packages = MODULE_PACKAGES + extra
    layers = {c for c in _subclasses(nn.Module) if f"{c.__module__}.".startswith(packages)}
    methods = {c for c in _subclasses(Method) if f"{c.__module__}.".startswith(("energybench.", *extra))}
    found = {}
    for c in (*layers, *methods, *HELPERS):
        key = f"{c.__module__}.{c.__qualname__}"
        if key not in found or _current(c):  # a module imported again: its classes as they are now
            found[key] = c
    return found


def _current(obj) -> bool:
    """Whether `obj` is what its module's name refers to now (not a class of a replaced module)."""
    target = sys.modules.get(obj.__module__)
    for part in obj.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is obj


def _config_difference(then, now: dict, said: set[str]) -> str | None:
    """'another configuration: epochs 4, not 2, ...': the keys a checkpoint's run set otherwise, but
    those already `said` (width, backbone); None when they were all. A checkpoint older than the
    values it records says only 'another configuration'."""
    if not isinstance(then, dict):
        return "another configuration"
    keys = sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k))
    if not keys:
        return "another configuration"
    keys = [k for k in keys if k not in said]
    if not keys:
        return None
    return "another configuration: " + ", ".join(f"{k} {shown(then.get(k))}, not {shown(now.get(k))}"
                                                 for k in keys)


class RunIdentity:
    """What a run's checkpoints must match: its configuration (without where and how it runs)
    and its network (backbone, input, width, and the backbone's parameter shapes)."""

    def __init__(self, cfg, in_shape):
        from energybench.config import results_config, to_dict

        recorded = {k: v for k, v in results_config(to_dict(cfg)).items() if k not in ("run_id", "out")}
        self.shapes = _backbone_shapes(cfg, tuple(in_shape))
        self.fingerprint = {
            "backbone": cfg.resolved_backbone(), "input": "x".join(map(str, in_shape)), "width": cfg.width,
            "cifar_stem": bool(cfg.cifar_stem),
            "network": _digest(sorted((k, list(v)) for k, v in self.shapes.items())),
            "config": _digest(recorded),
            "config_values": recorded,  # (not compared: what lets a refusal name the keys that differ)
        }

    def difference(self, recorded) -> str | None:
        """What differs from a checkpoint's recorded fingerprint, in words; None when nothing does."""
        if not isinstance(recorded, dict):
            return "it records no run identity"
        differ = [k for k in self.fingerprint if k != "config_values" and recorded.get(k) != self.fingerprint[k]]
        if not differ:
            return None
        named = [f"{k} {shown(recorded.get(k))}, not {shown(self.fingerprint[k])}" for k in differ
                 if k not in ("network", "config")]
        if "network" in differ and not named:
            named.append("a network of other parameter shapes")
        if "config" in differ:
            said = _config_difference(recorded.get("config_values"), self.fingerprint["config_values"], set(differ))
            if said:
                named.append(said)
        return "it was written by another run (" + "; ".join(named) + ")"

    def check_networks(self, state) -> str | None:
        """A backbone in the state whose parameter shapes are not the run's network's."""
        if self.shapes is None:
            return None
        for module in (m for net in _modules_in(state) for m in net.modules()):
            if isinstance(module, Backbone):
                got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
                for key in sorted(set(got) | set(self.shapes)):
                    if got.get(key) != self.shapes.get(key):
                        return (f"its backbone's {key!r} has shape {got.get(key)}, the run's network has "
                                f"{self.shapes.get(key)}")
        return None


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


_SHAPES: dict[str, dict[str, tuple[int, ...]] | None] = {}


def _backbone_shapes(cfg, in_shape) -> dict[str, tuple[int, ...]] | None:
    """The backbone's parameter and buffer shapes, built on the meta device (nothing allocated)
    for the built-in backbones; None where it cannot be built so (then no shape check)."""
    from energybench.models import BACKBONES, build_backbone

    name = cfg.resolved_backbone()
    key = repr((name, in_shape, cfg.width, cfg.cifar_stem))
    if key not in _SHAPES:
        try:
            if name in BACKBONES:
                with torch.device("meta"):
                    net = build_backbone(name, in_shape, cfg.width, cfg.cifar_stem)
            else:
                net = build_backbone(name, in_shape, cfg.width, cfg.cifar_stem)
            _SHAPES[key] = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        except Exception:  # the run checks its network itself, with a message; here only for comparison
            _SHAPES[key] = None
    return _SHAPES[key]


def _modules_in(state, limit: int = 100_000):
    """The networks a loaded state holds, outermost first (each once)."""
    seen, stack, found = set(), [state], []
    while stack and len(seen) < limit:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, nn.Module):
            found.append(v)
            continue
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif hasattr(v, "__dict__") and not isinstance(v, (type, torch.Tensor)):
            stack.extend(vars(v).values())
    return found


def checkpoint_bytes(state: Any, identity: RunIdentity | None = None) -> bytes:
    """A state as a checkpoint file holds it: tensors and plain containers (torch.save's bytes)."""
    try:
        table = to_plain(state)
    except NotPlain as exc:  # (a method keeping, say, a file handle: the message names the attribute)
        raise UserError(f"a state cannot be saved as a checkpoint: {exc}") from None
    buf = io.BytesIO()
    torch.save({"energybench_checkpoint": FORMAT, "fingerprint": identity.fingerprint if identity else None,
                **table}, buf)
    return buf.getvalue()


def save_checkpoint(path: Path, state: Any | bytes, identity: RunIdentity | None = None) -> None:
    """Atomically, so that a checkpoint is either the old one or the new one, never half; a
    state that arrives as bytes (from a Ray worker, checked by the caller) is written as it is."""
    atomic_write(path, state if isinstance(state, bytes) else checkpoint_bytes(state, identity))


def load_checkpoint(path: Path | BinaryIO | bytes, map_location: torch.device | str = "cpu",
                    extra_modules: tuple[str, ...] = (), kind: str | None = None, method: str | None = None,
                    identity: RunIdentity | None = None) -> Any:
    """Read a checkpoint energybench wrote (a file, or its bytes); refuse anything else
    without running or building it. With `identity`, it must come from that run. With `kind`
    ("base" or "progress") the loaded state must also have the structure energybench gives that
    kind, holding the method named `method` (when given): a well-formed file of another
    structure is refused like a crafted one, not left to fail later with a KeyError."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        data = weights_only_load(source, map_location)  # tensors and containers only: no global allowed
    except NotLoadable as exc:
        if exc.refused and "energybench." in str(exc):  # format 1 pickled energybench's own classes
            raise UserError(f"{_name(path)} was written by an earlier energybench, whose checkpoints held whole "
                            "objects; this version reads only tensors and plain containers and does not load it. "
                            "Delete it to recompute that part of the run") from None
        if exc.refused:
            raise _refused(path, str(exc)) from None
        raise UserError(f"{_name(path)} cannot be read as a checkpoint ({exc}); delete it to recompute that part "
                        "of the run") from None
    if not isinstance(data, dict) or data.get("energybench_checkpoint") != FORMAT:
        version = data.get("energybench_checkpoint") if isinstance(data, dict) else None
        raise _refused(path, f"it is a checkpoint of format {version}, this energybench reads {FORMAT}" if
                       isinstance(version, int) else f"it holds {_kind_of(data)}, not a checkpoint's table")
    problem = _views_beyond_storage(data)
    if problem:
        raise _refused(path, problem)
    try:
        state = from_plain(data, checkpoint_classes(extra_modules))
    except NotPlain as exc:
        raise _refused(path, str(exc)) from None
    if kind is not None:
        problem = _structure_problem(state, kind, method)
        if problem:
            raise _refused(path, problem)
    if identity is not None:
        problem = identity.difference(data.get("fingerprint")) or identity.check_networks(state)
        if problem:
            raise UserError(f"{_name(path)} was refused: {problem}, so it cannot continue this run. Nothing in it "
                            "was run. Delete it to recompute that part of the run")
    return state


def _views_beyond_storage(data) -> str | None:
    """A tensor that spans more elements than its storage holds (a stride-0 view, which a copy would
    expand): the one way a small file could still make a later step allocate much more."""
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor):
            if v.numel() * v.element_size() > v.untyped_storage().nbytes():
                return (f"it holds a tensor of shape {tuple(v.shape)} over {v.untyped_storage().nbytes()} bytes of "
                        "storage")
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


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
OPTIONAL = {"base": {  # a sweep of several (node, arch) points: a row and a breakdown per point
    "energy_levels": (lambda v: v is None or isinstance(v, str) or (isinstance(v, list) and all(
        isinstance(x, str) for x in v)), "text"),
    "rows": (lambda v: isinstance(v, list) and len(v) > 0 and all(_scalar_row(r) for r in v),
             "a list of metrics rows with acc_all")},
    "progress": {  # whose state it is (store.load_progress refuses one in another cell's folder)
        "cell": (lambda v: isinstance(v, dict) and isinstance(v.get("method"), str) and _number(v.get("sharing"))
                 and isinstance(v.get("seed"), int), "a cell (method, sharing, seed)")}}


def _kind_of(v) -> str:
    """What a file holds, in a few words: a mapping by its first keys, else its type."""
    if isinstance(v, dict):
        return "a mapping of " + ", ".join(shown(k) for k in list(v)[:4])
    return type(v).__name__


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
