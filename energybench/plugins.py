"""User code named `package.module:attribute`, or registered by an installed package under an
entry-point group (`energybench.backbones`, `energybench.methods`).

Naming `module:attribute` imports that module, which runs its code: that is the point, and it
happens only for a name the user wrote, as a flag, or in a file read with --trust-code
(commands/run.py: a config or a run directory from someone else never runs code by itself). The module is
looked up on PYTHONPATH, then in the current directory. Every failure is a UserError that says
what was asked for, what went wrong and what was expected.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from energybench.config import ALIASES
from energybench.errors import ModuleMissing, UserError

BACKBONE_GROUP = "energybench.backbones"
METHOD_GROUP = "energybench.methods"


def is_reference(name: str) -> bool:
    """Whether `name` names user code as `module:attribute` (built-in names have no colon)."""
    return ":" in name


CODE_KEYS = ("backbone", "methods")  # the config keys whose values may name user code


def code_references(layer: dict[str, Any]) -> dict[str, list[str]]:
    """The `package.module:Name` values a config layer's backbone and methods name, by key (an
    alias read as its key); values of other types are left to the config's checks."""
    found: dict[str, list[str]] = {}
    for raw_key, value in layer.items():
        key = ALIASES.get(raw_key, raw_key)
        if key not in CODE_KEYS:
            continue
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
        refs = [v.strip() for v in items if isinstance(v, str) and is_reference(v.strip())]
        if refs:
            found[key] = refs
    return found


def _import(module: str, what: str, spec: str):
    if os.getcwd() not in sys.path:  # the documented fallback: a file beside where the user runs
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise ModuleMissing(f"{what} '{spec}': no module named '{exc.name}' on PYTHONPATH or in the current "
                                f"directory ({os.getcwd()}); give an importable 'package.module:name'",
                                module) from None
        raise UserError(f"{what} '{spec}': importing module '{module}' failed: {exc}") from None
    except Exception as exc:  # the user's module itself is broken (syntax, a raise at import)
        raise UserError(f"{what} '{spec}': importing module '{module}' raised {type(exc).__name__}: {exc}") from None


def load_reference(spec: str, what: str) -> Any:
    """The object `spec` = 'package.module:attribute' (attribute may be dotted) names."""
    module, _, attr = spec.partition(":")
    if not module or not attr or ":" in attr:
        raise UserError(f"{what} '{spec}' must look like 'package.module:name' (one colon, module and name "
                        "both given)")
    obj = _import(module, what, spec)
    for part in attr.split("."):
        if not hasattr(obj, part):
            where = getattr(sys.modules.get(module), "__file__", None) or module
            raise UserError(f"{what} '{spec}': module '{module}' ({where}) has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj


def entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """Installed packages' registrations under `group`, by name."""
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def load_entry_point(group: str, name: str, what: str) -> Any:
    ep = entry_points(group)[name]
    try:
        return ep.load()
    except Exception as exc:
        dist = getattr(ep, "dist", None)
        by = f" (registered by {dist.name} {dist.version})" if dist is not None else ""
        raise UserError(f"{what} '{name}'{by}: loading {ep.value} raised {type(exc).__name__}: {exc}") from None


def user_modules(backbone: str | None, methods: list[str]) -> tuple[str, ...]:
    """The modules of the user code a run names (its backbone and its methods, by module:attribute or
    a registered name): their classes may be rebuilt from the run's checkpoints."""
    found = []
    for name, group in [(backbone, BACKBONE_GROUP), *((m, METHOD_GROUP) for m in methods)]:
        if not name:
            continue
        if is_reference(name):
            found.append(name.partition(":")[0])
        else:
            ep = entry_points(group).get(name)
            if ep is not None:
                found.append(ep.value.partition(":")[0].strip())
    return tuple(dict.fromkeys(found))


def provenance(obj: Any) -> dict[str, str]:
    """Where user code came from, for the manifest: its module, file and the file's SHA-256."""
    module = getattr(obj, "__module__", None) or ""
    path = getattr(sys.modules.get(module), "__file__", None)
    out = {"module": module, "qualname": getattr(obj, "__qualname__", type(obj).__name__)}
    if path and Path(path).is_file():
        out.update(file=str(Path(path).resolve()), sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest())
    return out
