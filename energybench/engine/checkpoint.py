"""Checkpoints of a run directory (a base phase's `*_base.pt`, an unfinished cell's
`progress.pt`): written atomically, read without running anything a file contains.

A checkpoint holds the method object (its networks, exemplar memory, tree) and random
number generator states. torch.save pickles them, and a pickle can run any code when it is
loaded, while run directories travel between people. So checkpoints are read with
`torch.load(weights_only=True)`: its unpickler builds tensors, plain containers and only the
classes listed by `checkpoint_globals` (energybench's methods, networks and their helpers,
and PyTorch's and torchvision's layers), and refuses any other global: a crafted file is
refused with a clear message and nothing in it runs.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from energybench.errors import UserError
from energybench.files import atomic_write
from energybench.methods.base import Method
from energybench.methods.memory import ExemplarMemory
from energybench.methods.tree_model import Node
from energybench.models.layout import _nchw_input
from energybench.models.surgery import Cut

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


def load_checkpoint(path: Path | BinaryIO, map_location: torch.device | str = "cpu",
                    extra_modules: tuple[str, ...] = ()) -> Any:
    """Read a checkpoint energybench wrote (a file, or its bytes); refuse anything else
    without running it."""
    if isinstance(path, bytes):
        path = io.BytesIO(path)
    try:
        with torch.serialization.safe_globals(checkpoint_globals(extra_modules)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on a foreign file's pickle protocol: refused below anyway
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        what = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise UserError(f"{_name(path)} was refused: it is not a checkpoint energybench wrote, or it was altered "
                        f"({what}). Nothing in it was run. Delete it to recompute that part of the run") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UserError(f"{_name(path)} cannot be read as a checkpoint ({str(exc).splitlines()[0]}); delete it to "
                        "recompute that part of the run") from None


def _name(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "a checkpoint sent by a worker"
