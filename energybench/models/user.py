"""A user's network as a Backbone: `--backbone package.module:factory`, or a name an installed
package registers under the `energybench.backbones` entry-point group.

The factory is called with `in_shape=(C, H, W)` if it takes that parameter (and `width=W`
if it takes `width`), else with no arguments, and must return an nn.Module mapping a
(batch, C, H, W) input to (batch, features). Its blocks, where sharing cuts may fall, are the
list the module exposes as `blocks` (a list, ModuleList or Sequential of modules run in
order), else its top-level children in registration order. Either way the chained blocks must
compute what the module's own forward computes, and hold all its parameters; both are checked
on a small seeded input when the backbone is built, so a network whose forward does more
than chain its children fails with a message rather than training something else.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from energybench import plugins
from energybench.errors import UserError
from energybench.models.backbone import Backbone

CHECK_BATCH = 2


def resolve_factory(name: str):
    """The factory a user backbone name refers to (module:attribute or an entry-point name), or
    None for a name that is neither."""
    if plugins.is_reference(name):
        factory = plugins.load_reference(name, "backbone")
    elif name in plugins.entry_points(plugins.BACKBONE_GROUP):
        factory = plugins.load_entry_point(plugins.BACKBONE_GROUP, name, "backbone")
    else:
        return None
    if not callable(factory):
        kind = type(factory).__name__
        raise UserError(f"backbone '{name}' is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, not a factory: give a "
                        "function or class that returns a torch.nn.Module")
    return factory


def _accepts(factory, param: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(p.name == param or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _call(name: str, factory, in_shape: tuple[int, int, int], width: float) -> nn.Module:
    kwargs: dict = {}
    if _accepts(factory, "in_shape"):
        kwargs["in_shape"] = tuple(in_shape)
    if width != 1.0:
        if not _accepts(factory, "width"):
            raise UserError(f"backbone '{name}': width {width:g} asked for, but its factory takes no 'width' parameter")
        kwargs["width"] = width
    try:
        module = factory(**kwargs)
    except Exception as exc:
        raise UserError(f"backbone '{name}': the factory raised {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise UserError(f"backbone '{name}': the factory returned a {type(module).__name__}, "
                        "expected a torch.nn.Module")
    return module


def _blocks(name: str, module: nn.Module) -> list[nn.Module]:
    listed = getattr(module, "blocks", None)
    if isinstance(listed, (list, tuple, nn.ModuleList, nn.Sequential)):
        blocks = list(listed)
        if not blocks or not all(isinstance(b, nn.Module) for b in blocks):
            raise UserError(f"backbone '{name}': its 'blocks' must be a non-empty list of nn.Modules")
    else:
        blocks = list(module.children())
        if not blocks:
            raise UserError(f"backbone '{name}': the module has no child modules to cut into blocks; build it from "
                            "submodules (e.g. an nn.Sequential) or expose them as 'blocks'")
    inside = {id(p) for b in blocks for p in b.parameters()}
    stray = [n for n, p in module.named_parameters() if id(p) not in inside]
    if stray:
        raise UserError(f"backbone '{name}': parameter '{stray[0]}' is outside its blocks; every parameter must "
                        "belong to a block (put it in a submodule that is one of the blocks)")
    return blocks


def _check_features(name: str, out, shape: str) -> None:
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != CHECK_BATCH:
        got = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise UserError(f"backbone '{name}': on a {shape} input it returned {got}; expected a feature tensor "
                        f"of shape ({CHECK_BATCH}, features): end the network with pooling and "
                        "nn.Flatten(), without a classifier (energybench adds the head)")


def _has_own_forward(module: nn.Module) -> bool:
    return type(module).forward is not nn.Module.forward


def user_backbone(name: str, factory, in_shape: tuple[int, int, int], width: float = 1.0) -> tuple[Backbone, nn.Module]:
    """Build the user's module and wrap it; returns (backbone, the module)."""
    module = _call(name, factory, in_shape, width)
    blocks = _blocks(name, module)
    backbone = Backbone(name, blocks, 0)
    # where the blocks live: a plain list of blocks, or blocks without parameters, leave the module
    # itself none to ask, and the build may be under a `torch.device` (meta) context
    ref = next((t for b in blocks for t in (*b.parameters(), *b.buffers())), None)
    device = ref.device if ref is not None else torch.get_default_device()
    shape = "x".join(map(str, (CHECK_BATCH, *in_shape)))
    gen = torch.Generator().manual_seed(0)  # a local generator: the check leaves the global RNG as it was
    x = torch.randn(CHECK_BATCH, *in_shape, generator=gen, device="cpu").to(device)
    was_training = module.training
    module.eval()  # deterministic: dropout off, batch-norm statistics untouched
    fix = "expose the blocks as a 'blocks' list of modules run in order (see README, 'Your own network')"
    try:
        with torch.no_grad():
            own = None
            if _has_own_forward(module):
                try:
                    own = module(x)
                except Exception as exc:
                    raise UserError(f"backbone '{name}': its forward on a {shape} input raised "
                                    f"{type(exc).__name__}: {exc}") from None
                _check_features(name, own, shape)
            try:
                out = backbone(x)
            except Exception as exc:
                raise UserError(f"backbone '{name}': running its blocks in order on a {shape} input raised "
                                f"{type(exc).__name__}: {exc}" + (f"; {fix}" if own is not None else "")) from None
            # a forward of its own is checked first: blocks that stop short of it (a flatten or a skip
            # connection left in forward) are that mismatch, not a network lacking its pooling
            if own is not None and not (isinstance(out, torch.Tensor) and own.shape == out.shape and (
                    device.type == "meta" or torch.allclose(own, out, rtol=1e-4, atol=1e-5))):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                how = ("other values of the same shape" if got == tuple(own.shape)
                       else f"shape {got} against {tuple(own.shape)}")
                raise UserError(f"backbone '{name}': its blocks run in order do not compute what its forward "
                                f"computes ({how}); {fix}")
            _check_features(name, out, shape)
    finally:
        module.train(was_training)
    backbone.out_dim = int(out.shape[1])
    return backbone, module
