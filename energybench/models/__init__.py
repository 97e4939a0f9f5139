"""Backbones (as ordered blocks), heads and the incremental network."""

from __future__ import annotations

from typing import Callable

from energybench.errors import UserError
from energybench.models.backbone import Backbone
from energybench.models.heads import CosineLinear, GrowingLinear
from energybench.models.network import IncrementalNet

Shape = tuple[int, int, int]


def _registry() -> dict[str, Callable[..., Backbone]]:
    from energybench.models import resnet_cifar, small_nets, torchvision_nets

    def tv(name):
        return lambda shape, width=1.0, cifar_stem=False: torchvision_nets.torchvision_resnet(name, shape, cifar_stem)

    return {
        "tiny_cnn": lambda shape, width=1.0, cifar_stem=False: small_nets.tiny_cnn(shape, width),
        "lenet": lambda shape, width=1.0, cifar_stem=False: small_nets.lenet(shape, width),
        "nin": lambda shape, width=1.0, cifar_stem=False: small_nets.nin(shape, width),
        "resnet20": lambda shape, width=1.0, cifar_stem=False: resnet_cifar.cifar_resnet(20, shape, width),
        "resnet32": lambda shape, width=1.0, cifar_stem=False: resnet_cifar.cifar_resnet(32, shape, width),
        "resnet18": tv("resnet18"),
        "resnet34": tv("resnet34"),
        "resnet101": tv("resnet101"),
        "vgg19": lambda shape, width=1.0, cifar_stem=False: torchvision_nets.vgg19(shape, cifar_stem),
    }


BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "resnet18", "resnet34", "resnet101", "vgg19")


def build_backbone(name: str, in_shape: Shape, width: float = 1.0, cifar_stem: bool = False) -> Backbone:
    registry = _registry()
    if name not in registry:
        raise UserError(f"unknown backbone '{name}'; valid backbones: {', '.join(BACKBONES)}")
    try:
        return registry[name](tuple(in_shape), width=width, cifar_stem=cifar_stem)
    except ValueError as exc:
        raise UserError(f"backbone '{name}' cannot take input {'x'.join(map(str, in_shape))}: {exc}") from None


def build_net(name: str, in_shape: Shape, num_classes: int, width: float = 1.0,
              cifar_stem: bool = False, cosine: bool = False) -> IncrementalNet:
    backbone = build_backbone(name, in_shape, width, cifar_stem)
    head = (CosineLinear if cosine else GrowingLinear)(backbone.out_dim, num_classes)
    return IncrementalNet(backbone, head)


__all__ = ["Backbone", "BACKBONES", "CosineLinear", "GrowingLinear", "IncrementalNet", "build_backbone", "build_net"]
