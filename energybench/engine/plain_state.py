"""A state (a method object with its networks, exemplar memory, tree, RNG states) as tensors and
plain containers only, and back: what checkpoints hold.

A pickled object names its class, and unpickling may call what it names: an allow-list of
classes still let a 1.3 KB file call `nn.Linear(20000, 20000)`. Here the file holds only
tensors, numbers, text, lists and dicts (read with torch.load(weights_only=True) and no extra
globals); every object is a table entry naming its class as text. Rebuilding creates each object
with `cls.__new__` and gives it its recorded attributes: no constructor runs, so nothing is
allocated beyond the file's own tensors, and only the classes of `classes` (energybench's
networks, methods and helpers, the run's own user code) can be named at all.

Objects are numbered in a table, so that shared references (an old model held by two
attributes, a tree's nodes) stay shared and a crafted file cannot grow by repetition.
"""

from __future__ import annotations

from collections import OrderedDict
from types import FunctionType
from typing import Any

import numpy as np
import torch

PLAIN = (type(None), bool, int, float, str)


class NotPlain(Exception):
    """A state that cannot be written (an attribute of a type checkpoints do not hold) or a
    table that is not one energybench wrote; the text says where, in one line."""


def _name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


# ----- to plain data ---------------------------------------------------------------------------------
def to_plain(state: Any) -> dict:
    """{"objects": [...], "root": ...}: the state's composite values as numbered entries."""
    table: list = []
    index: dict[int, int] = {}
    keep: list = []  # the values numbered, alive until the end (their ids stay unique)

    def ref(value, where: str):
        if isinstance(value, PLAIN):
            return value
        if isinstance(value, torch.Tensor) and type(value) is torch.Tensor:
            return value  # torch.save keeps tensors that share storage shared
        key = id(value)
        if key in index:
            return {"ref": index[key]}
        index[key] = len(table)
        table.append(None)
        keep.append(value)
        table[index[key]] = entry(value, where)
        return {"ref": index[key]}

    def entry(value, where: str) -> dict:
        if isinstance(value, torch.nn.Parameter):
            return {"t": "param", "data": value.detach(), "grad": value.requires_grad}
        if isinstance(value, torch.Size):
            return {"t": "size", "v": list(value)}
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, np.ndarray):
            return {"t": "ndarray", "v": torch.from_numpy(np.ascontiguousarray(value).copy())}
        if isinstance(value, np.generic):
            return {"t": "npscalar", "dtype": value.dtype.str, "v": value.item()}
        if type(value) in (list, tuple, set, frozenset):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            return {"t": type(value).__name__, "v": [ref(v, f"{where}[{i}]") for i, v in enumerate(items)]}
        if type(value) in (dict, OrderedDict):
            return {"t": type(value).__name__, "k": [ref(k, where) for k in value],
                    "v": [ref(v, f"{where}[{k!r}]") for k, v in value.items()]}
        if isinstance(value, FunctionType):
            return {"t": "function", "c": _name(value)}
        if hasattr(value, "__dict__") and not isinstance(value, type):
            state = value.__getstate__() if hasattr(value, "__getstate__") else value.__dict__
            state = {} if state is None else state  # (object.__getstate__ of an empty __dict__)
            if not isinstance(state, dict):
                raise NotPlain(f"{where} ({type(value).__name__}) keeps its state as {type(state).__name__}")
            return {"t": "object", "c": _name(type(value)),
                    "d": {"ref": _attrs(dict(state), where)}}
        raise NotPlain(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; a checkpoint holds "
                       "tensors, numbers, text, containers, numpy arrays, networks and methods")

    def _attrs(attrs: dict, where: str) -> int:
        """An object's attributes: a dict entry whose values are named where.attribute in messages."""
        table.append(None)
        i = len(table) - 1
        keep.append(attrs)
        table[i] = {"t": "dict", "k": list(attrs), "v": [ref(v, f"{where}.{k}") for k, v in attrs.items()]}
        return i

    root = ref(state, "state")
    return {"objects": table, "root": root}


# ----- back ------------------------------------------------------------------------------------------
def from_plain(data: Any, classes: dict[str, Any]) -> Any:
    """The state `to_plain` recorded; `classes` maps the names a table may use to classes (and the
    few functions allowed, e.g. a layout hook). NotPlain names the first thing that is not right.
    Over 80 lines on purpose: its two nested builders share the table, what is built and the cycle
    guard, and every kind of entry is checked in the one place that builds it."""
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list) or "root" not in data:
        raise NotPlain("no table of objects in it")
    table = data["objects"]
    done: dict[int, Any] = {}
    building: set[int] = set()

    def value(v):
        if isinstance(v, PLAIN) or (isinstance(v, torch.Tensor) and type(v) is torch.Tensor):
            return v
        if isinstance(v, dict) and set(v) == {"ref"} and type(v["ref"]) is int and 0 <= v["ref"] < len(table):
            return build(v["ref"])
        raise NotPlain(f"a value of type {type(v).__name__} where a number, text, tensor or reference belongs")

    def build(i: int):
        if i in done:
            return done[i]
        if i in building:  # (only lists, dicts and objects may refer back to themselves)
            raise NotPlain(f"entry {i} refers to itself through a tuple or set")
        e = table[i]
        if not isinstance(e, dict) or not isinstance(e.get("t"), str):
            raise NotPlain(f"entry {i} is not an entry")
        t = e["t"]
        building.add(i)
        try:
            if t == "param":
                data, grad = e.get("data"), e.get("grad")
                if not isinstance(data, torch.Tensor) or not isinstance(grad, bool):
                    raise NotPlain(f"entry {i}: a parameter without its tensor")
                out = torch.nn.Parameter(data, requires_grad=grad and data.is_floating_point())
            elif t in ("size", "tuple", "set", "frozenset"):
                items = [value(x) for x in _items(e, i)]
                if t == "size" and not all(type(x) is int and x >= 0 for x in items):
                    raise NotPlain(f"entry {i}: a size of {len(items)} items that are not all counts")
                out = {"size": torch.Size, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
            elif t == "list":
                out = done[i] = []
                out.extend(value(x) for x in _items(e, i))
            elif t in ("dict", "OrderedDict"):
                keys, vals = _items(e, i, "k"), _items(e, i)
                if len(keys) != len(vals):
                    raise NotPlain(f"entry {i}: {len(keys)} keys for {len(vals)} values")
                out = done[i] = {} if t == "dict" else OrderedDict()
                for k, v in zip(keys, vals):
                    k = value(k)
                    if not isinstance(k, (*PLAIN, tuple)):
                        raise NotPlain(f"entry {i}: a key of type {type(k).__name__}")
                    out[k] = value(v)
            elif t == "device":
                out = torch.device(_text(e, i))
            elif t == "dtype":
                out = getattr(torch, _text(e, i), None)
                if not isinstance(out, torch.dtype):
                    raise NotPlain(f"entry {i}: no torch dtype {_text(e, i)!r}")
            elif t == "ndarray":
                if not isinstance(e.get("v"), torch.Tensor):
                    raise NotPlain(f"entry {i}: an array without its tensor")
                out = e["v"].cpu().numpy()
            elif t == "npscalar":  # numbers only (a void dtype's scalar would allocate the count it is given)
                dtype = np.dtype(_text(e, i, "dtype"))
                if dtype.kind not in "biufc" or not isinstance(e.get("v"), (bool, int, float)):
                    raise NotPlain(f"entry {i}: a numpy scalar of dtype {dtype.str!r}, not a number")
                out = dtype.type(e["v"])
            elif t == "function":
                out = classes.get(_text(e, i, "c"))
                if not isinstance(out, FunctionType):
                    raise NotPlain(f"it names the function {e['c']!r}, which a checkpoint may not hold")
            elif t == "object":
                cls = classes.get(_text(e, i, "c"))
                if not isinstance(cls, type):
                    raise NotPlain(f"it names the class {e['c']!r}, which a checkpoint may not hold")
                out = done[i] = cls.__new__(cls)  # no constructor runs: nothing is allocated here
                attrs = value(e.get("d"))
                if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
                    raise NotPlain(f"entry {i}: the attributes of a {cls.__name__} are not a mapping of names")
                if getattr(cls, "__setstate__", None) is not getattr(object, "__setstate__", None) and \
                        isinstance(out, torch.nn.Module):
                    out.__setstate__(attrs)  # (fills attributes newer torch versions added)
                else:
                    out.__dict__.update(attrs)
            else:
                raise NotPlain(f"entry {i} is of unknown kind {t!r}")
        finally:
            building.discard(i)
        done[i] = out
        return out

    try:
        return value(data["root"])
    except RecursionError:
        raise NotPlain("its objects are nested too deeply") from None
    except (TypeError, ValueError, RuntimeError, ArithmeticError, AttributeError, LookupError) as exc:
        raise NotPlain(f"an entry does not rebuild ({type(exc).__name__})") from None


def _items(e: dict, i: int, key: str = "v") -> list:
    items = e.get(key)
    if not isinstance(items, list):
        raise NotPlain(f"entry {i} has no list of items")
    return items


def _text(e: dict, i: int, key: str = "v") -> str:
    text = e.get(key)
    if not isinstance(text, str):
        raise NotPlain(f"entry {i} has no text {key!r}")
    return text
