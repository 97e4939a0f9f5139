"""Backbones (as ordered blocks), heads and the incremental network."""

from __future__ import annotations

from energybench.errors import UserError, unknown_name
from energybench.models.backbone import Backbone
from energybench.models.heads import CosineLinear, GrowingLinear
from energybench.models.layout import to_training_layout
from energybench.models.network import IncrementalNet

Shape = tuple[int, int, int]


def _build(name: str, shape: Shape, width: float, cifar_stem: bool) -> Backbone:
    # Each family's module is imported only when asked for: torchvision takes seconds to import.
    if name in ("tiny_cnn", "lenet", "nin"):
        from energybench.models import small_nets

        return getattr(small_nets, name)(shape, width)
    if name in ("resnet20", "resnet32"):
        from energybench.models import resnet_cifar

        return resnet_cifar.cifar_resnet(int(name.removeprefix("resnet")), shape, width)
    from energybench.models import torchvision_nets

    if name == "vgg19":
        return torchvision_nets.vgg19(shape, cifar_stem)
    return torchvision_nets.torchvision_resnet(name, shape, cifar_stem)


BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "resnet18", "resnet34", "resnet101", "vgg19")


def build_backbone(name: str, in_shape: Shape, width: float = 1.0, cifar_stem: bool = False) -> Backbone:
    if name not in BACKBONES:
        raise UserError(unknown_name("backbone", name, BACKBONES))
    try:
        return _build(name, tuple(in_shape), width, cifar_stem)
    except ValueError as exc:
        raise UserError(f"backbone '{name}' cannot take input {'x'.join(map(str, in_shape))}: {exc}") from None


def check_input(name: str, in_shape: Shape, width: float = 1.0, cifar_stem: bool = False) -> None:
    """The backbone takes inputs of this shape: built and run forward on the meta device (shapes
    only, nothing computed), so an input too small for its pooling stops a run before it starts,
    not in its first training step."""
    import torch

    with torch.device("meta"):
        backbone = build_backbone(name, in_shape, width, cifar_stem)
        try:
            backbone(torch.empty(2, *in_shape))
        except RuntimeError as exc:
            raise UserError(f"backbone '{name}' cannot take input {'x'.join(map(str, in_shape))} "
                            f"({str(exc).splitlines()[0]}); choose a backbone made for inputs this small") from None


def build_net(name: str, in_shape: Shape, num_classes: int, width: float = 1.0,
              cifar_stem: bool = False, cosine: bool = False) -> IncrementalNet:
    backbone = build_backbone(name, in_shape, width, cifar_stem)
    head = (CosineLinear if cosine else GrowingLinear)(backbone.out_dim, num_classes)
    return to_training_layout(IncrementalNet(backbone, head))


__all__ = ["Backbone", "BACKBONES", "CosineLinear", "GrowingLinear", "IncrementalNet", "build_backbone", "build_net",
           "check_input"]
