"""Backbones (as ordered blocks), heads and the incremental network.

A backbone name is a built-in (BACKBONES), a name an installed package registers under the
`energybench.backbones` entry-point group, or `package.module:factory` (models/user.py).
"""

from __future__ import annotations

import math

from torch import nn

from energybench import plugins
from energybench.errors import UserError, colon_hint, unknown_name
from energybench.models.backbone import Backbone
from energybench.models.heads import CosineLinear, GrowingLinear
from energybench.models.layout import to_training_layout
from energybench.models.network import IncrementalNet

Shape = tuple[int, int, int]

CNN_BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "resnet18", "resnet34", "resnet101", "vgg19")
TRANSFORMER_BACKBONES = ("tiny_vit", "vit_b_16", "vit_b_32", "vit_l_16", "swin_t")
BACKBONES = CNN_BACKBONES + TRANSFORMER_BACKBONES
# Which built-ins take which shape options (the others are fixed-width and built for their input).
WIDTH_BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "tiny_vit")
CIFAR_STEM_BACKBONES = ("resnet18", "resnet34", "resnet101", "vgg19")


def _build(name: str, shape: Shape, width: float, cifar_stem: bool) -> tuple[Backbone, nn.Module]:
    """(backbone, the network its blocks were taken from: where a checkpoint's key names point)."""
    # Each family's module is imported only when asked for: torchvision takes seconds to import.
    if name in ("tiny_cnn", "lenet", "nin"):
        from energybench.models import small_nets

        bb = getattr(small_nets, name)(shape, width)
        return bb, bb
    if name in ("resnet20", "resnet32"):
        from energybench.models import resnet_cifar

        bb = resnet_cifar.cifar_resnet(int(name.removeprefix("resnet")), shape, width)
        return bb, bb
    if name in TRANSFORMER_BACKBONES:
        from energybench.models import transformers

        if name == "tiny_vit":
            return transformers.tiny_vit(shape, width)
        if name == "swin_t":
            return transformers.swin_t(shape)
        return transformers.vit(name, shape)
    from energybench.models import torchvision_nets

    if name == "vgg19":
        return torchvision_nets.vgg19(shape, cifar_stem)
    return torchvision_nets.torchvision_resnet(name, shape, cifar_stem)


def registered_backbones() -> list[str]:
    """Names installed packages register under the `energybench.backbones` entry-point group
    (a built-in name cannot be taken over)."""
    return [n for n in plugins.entry_points(plugins.BACKBONE_GROUP) if n not in BACKBONES]


def valid_backbones() -> str:
    extra = registered_backbones()
    return (", ".join(BACKBONES) + (", " + ", ".join(extra) if extra else "")
            + ", or your own as package.module:factory")


def _unknown(name: str) -> str:
    return (unknown_name("backbone", name, [*BACKBONES, *registered_backbones()])
            + ", or your own as package.module:factory" + colon_hint(name))


def check_backbone_name(name: str) -> None:
    """A built-in, a registered name, or `module:factory` whose module imports and whose factory
    exists (calling it needs the input shape: build_backbone does that)."""
    if name in BACKBONES:
        return
    from energybench.models.user import resolve_factory

    if resolve_factory(name) is None:
        raise UserError(_unknown(name))


def build_backbone(name: str, in_shape: Shape, width: float = 1.0, cifar_stem: bool = False,
                   weights: str | None = None) -> Backbone:
    """The backbone `name` for inputs of in_shape, with the state dict at `weights` loaded if given."""
    in_shape = tuple(in_shape)
    if name in BACKBONES:
        try:
            backbone, source = _build(name, in_shape, width, cifar_stem)
        except ValueError as exc:
            raise UserError(f"backbone '{name}' cannot take input {'x'.join(map(str, in_shape))}: {exc}") from None
    else:
        from energybench.models.user import resolve_factory, user_backbone

        factory = resolve_factory(name)
        if factory is None:
            raise UserError(_unknown(name))
        if cifar_stem:
            raise UserError(f"the CIFAR stem does not apply to '{name}' (a user backbone is built for its input "
                            f"by its factory); backbones that take it: {', '.join(CIFAR_STEM_BACKBONES)}")
        backbone, source = user_backbone(name, factory, in_shape, width)
    if weights:
        from energybench.models.weights import load_weights

        load_weights(backbone, source, weights)
    return backbone


# A backbone up to this size is checked on the CPU, its weights zeroed: on the meta device, batch
# norm, pooling and adds run through PyTorch's Python references, whose first call imports
# torch._dynamo (1.4 s before a run's first step); a forward this small takes milliseconds.
CHECK_ON_CPU_PARAMS = 1_000_000
CHECK_ON_CPU_INPUT = 3 * 32 * 32  # values per sample


def check_input(name: str, in_shape: Shape, width: float = 1.0, cifar_stem: bool = False) -> None:
    """The backbone takes inputs of this shape: built and run forward (shapes only: on the meta
    device, or on the CPU with zeroed weights when small), so an input too small for its pooling
    stops a run before it starts, not in its first training step."""
    import torch

    if name not in BACKBONES:  # a user's network is built for real, and checked, before the run (runner.py)
        return
    with torch.device("meta"):
        backbone = build_backbone(name, in_shape, width, cifar_stem)
    device = "meta"
    if sum(p.numel() for p in backbone.parameters()) <= CHECK_ON_CPU_PARAMS and \
            math.prod(in_shape) <= CHECK_ON_CPU_INPUT:
        device = "cpu"
        backbone.to_empty(device=device)
        with torch.no_grad():
            for t in (*backbone.parameters(), *backbone.buffers()):
                t.zero_()
    with torch.device(device), torch.no_grad():
        try:
            backbone(torch.zeros(2, *in_shape))
        except RuntimeError as exc:
            raise UserError(f"backbone '{name}' cannot take input {'x'.join(map(str, in_shape))} "
                            f"({str(exc).splitlines()[0]}); choose a backbone made for inputs this small") from None


def build_net(name: str, in_shape: Shape, num_classes: int, width: float = 1.0,
              cifar_stem: bool = False, cosine: bool = False, weights: str | None = None) -> IncrementalNet:
    backbone = build_backbone(name, in_shape, width, cifar_stem, weights)
    head = (CosineLinear if cosine else GrowingLinear)(backbone.out_dim, num_classes)
    return to_training_layout(IncrementalNet(backbone, head))


__all__ = ["Backbone", "BACKBONES", "CIFAR_STEM_BACKBONES", "CNN_BACKBONES", "CosineLinear", "GrowingLinear",
           "IncrementalNet", "TRANSFORMER_BACKBONES", "WIDTH_BACKBONES", "build_backbone", "build_net",
           "check_backbone_name", "check_input", "valid_backbones"]
