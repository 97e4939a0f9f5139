"""Class-incremental methods, one file each; METHODS maps names to classes."""

from __future__ import annotations

import importlib

# name -> module; the order is the order `energybench run` runs them by default.
_MODULES = {
    "finetune": "finetune",
    "joint": "joint",
    "sharing": "sharing",
    "lwf": "lwf",
    "icarl": "icarl",
    "eeil": "eeil",
    "lucir": "lucir",
    "tree": "tree",
    "progressive": "progressive",
    "scratch": "scratch",
}


def _load() -> dict:
    from energybench.methods.base import Method

    found = {}
    for name, module in _MODULES.items():
        mod = importlib.import_module(f"energybench.methods.{module}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Method) and obj.name == name:
                found[name] = obj
    return found


METHODS = _load()
