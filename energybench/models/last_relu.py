"""Remove a backbone's final ReLU, so features can be negative (LUCIR, Sec. 4.1: "the ReLU in
the penultimate layer is removed"; its code drops the last residual block's ReLU).

What "final ReLU" means per backbone kind (the last one to execute before the head):
- CIFAR ResNets (resnet20/32): the last residual block's output ReLU, via its `last_relu` flag
  (the block calls one ReLU module twice, so the module itself cannot be replaced).
- torchvision ResNets (resnet18/34/101): the last BasicBlock/Bottleneck is swapped, in place,
  to a subclass whose forward ends at the residual sum (same modules, same weights).
- Sequential backbones (tiny_cnn, lenet, nin, vgg19): the last nn.ReLU module is replaced by
  an identity. For lenet that ReLU precedes the last max-pool; for vgg19 it follows the last
  fully connected layer (a Dropout after it stays).
Blocks are visited in registration order, which is their execution order in every backbone here.
"""

from __future__ import annotations

import sys

from torch import nn

from energybench.models import resnet_cifar
from energybench.models.backbone import Backbone


class RemovedReLU(nn.Identity):
    """Marks where a ReLU was removed, so a second call finds it and changes nothing."""


def _torchvision_no_relu() -> dict[type, type]:
    """torchvision's residual blocks mapped to their ReLU-less twins. Empty unless a torchvision
    backbone was built (its module is then loaded): importing torchvision costs seconds that a
    digits run would otherwise pay for nothing."""
    tv = sys.modules.get("energybench.models.torchvision_nets")
    return tv.NO_RELU if tv is not None else {}


def _last(module: nn.Module, found=None):
    """(parent, name, child) of the last residual block or stand-alone ReLU under `module`."""
    stops = (resnet_cifar.BasicBlock, *_torchvision_no_relu(), nn.ReLU, RemovedReLU)
    for name, child in module.named_children():
        if isinstance(child, stops):
            found = (module, name, child)
        else:
            found = _last(child, found)
    return found


def remove_last_relu(backbone: Backbone) -> str:
    """Remove the final ReLU in place; returns what was changed (idempotent)."""
    found = _last(backbone)
    if found is None:
        return "no ReLU found"
    parent, name, child = found
    if isinstance(child, resnet_cifar.BasicBlock):
        child.last_relu = False
        return f"{name}: CIFAR BasicBlock last_relu=False"
    no_relu = _torchvision_no_relu()
    if isinstance(child, (*no_relu.values(), RemovedReLU)):
        return f"{name}: already {type(child).__name__}"
    if type(child) in no_relu:
        child.__class__ = no_relu[type(child)]
        return f"{name}: {type(child).__name__}"
    setattr(parent, name, RemovedReLU())
    return f"{name}: ReLU -> Identity"
