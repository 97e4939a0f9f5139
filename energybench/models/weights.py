"""`--weights FILE`: a local state dict loaded into a freshly built backbone.

The file is read with `torch.load(weights_only=True)` (`weights_only_load`, which engine/checkpoint.py
uses too): tensors only, never code. Its keys may
name the backbone's tensors either as energybench stores them (`blocks.<i>.…`, e.g. a
backbone saved from a run) or as the network it was cut from names them (torchvision's own
checkpoints: `conv_proj.weight`, `encoder.layers.encoder_layer_0.…`; a user factory's module's
own names). Tensors of that network outside the backbone (its classifier) are ignored. Every
backbone tensor must be in the file, with its shape; anything else is an error naming the key.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from energybench.errors import UserError

# the advice torch appends to a refusal (turn the safe load off, allowlist the class): never ours to pass on
TORCH_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1) ", "(2) ")


class NotLoadable(Exception):
    """A torch file that weights_only_load refused (`refused`: it holds more than tensors and the
    allowed classes; nothing in it ran) or could not read (cut short, not a torch file). Its text
    is the reason in one line, for a message of the caller's."""

    def __init__(self, reason: str, refused: bool):
        super().__init__(reason)
        self.refused = refused


def weights_only_load(source: str | Path | BinaryIO, map_location: torch.device | str = "cpu") -> Any:
    """torch.load(weights_only=True): tensors, plain containers and the globals allowed by the
    caller's torch.serialization.safe_globals, never code. NotLoadable for anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on a foreign file's pickle protocol: the load decides
            return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NotLoadable(_torch_reason(str(exc)) or "it holds more than tensors", refused=True) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise NotLoadable(_torch_reason(str(exc)) or "the file is empty or cut short", refused=False) from None
    except Exception:  # the unpickler's KeyError, IndexError... on bytes that are not a pickle at all
        raise NotLoadable("not a file torch.save wrote", refused=False) from None


def _torch_reason(text: str) -> str:
    """The reason in torch's message, in one sentence, without its advice."""
    text = text.split("WeightsUnpickler error:")[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(TORCH_ADVICE)]
    return lines[0].split(". ")[0].rstrip(".") if lines else ""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"weights file {p} does not exist")
    try:
        state = weights_only_load(p)
    except NotLoadable as exc:
        ran = "; nothing in it was run" if exc.refused else ""
        raise UserError(f"weights file {p} is not a loadable state dict ({exc}{ran}); save one with "
                        "torch.save(model.state_dict(), FILE)") from None
    if isinstance(state, dict):  # common training-script wrappers
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"weights file {p} holds {type(state).__name__}, not a state dict (a mapping of names to "
                        "tensors); save one with torch.save(model.state_dict(), FILE)")
    return state


def load_weights(backbone: nn.Module, source: nn.Module, path: str | Path) -> None:
    """Copy the tensors of the state dict at `path` into `backbone` (in place), by the backbone's
    own key names or by those of `source`, the network its blocks were taken from."""
    state = read_state_dict(path)
    own = all(k.startswith("blocks.") for k in state)
    target = backbone if own else source
    current = target.state_dict(keep_vars=True)
    mine = {id(t) for t in backbone.state_dict(keep_vars=True).values()}
    wanted = [k for k, t in current.items() if id(t) in mine]
    missing = [k for k in wanted if k not in state]
    if missing:
        raise UserError(f"weights file {path} lacks {len(missing)} of the backbone's {len(wanted)} tensors, "
                        f"e.g. '{missing[0]}' (its keys look like '{next(iter(state))}')")
    unknown = [k for k in state if k not in current]
    if unknown:
        raise UserError(f"weights file {path} has tensors the network lacks, e.g. '{unknown[0]}' "
                        f"({len(unknown)} in all): it was saved from a different architecture")
    for key in wanted:
        have, new = current[key], state[key]
        if tuple(have.shape) != tuple(new.shape):
            raise UserError(f"weights file {path}: '{key}' has shape {tuple(new.shape)}, the backbone's has "
                            f"{tuple(have.shape)} (another input size, channel count or width?)")
    with torch.no_grad():
        for key in wanted:
            current[key].copy_(state[key])
