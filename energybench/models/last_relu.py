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

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from energybench.models import resnet_cifar
from energybench.models.backbone import Backbone


class BasicBlockNoReLU(tv_resnet.BasicBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out)) + identity


class BottleneckNoReLU(tv_resnet.Bottleneck):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out)) + identity


class RemovedReLU(nn.Identity):
    """Marks where a ReLU was removed, so a second call finds it and changes nothing."""


_NO_RELU = {tv_resnet.BasicBlock: BasicBlockNoReLU, tv_resnet.Bottleneck: BottleneckNoReLU}
_RESIDUAL = (resnet_cifar.BasicBlock, tv_resnet.BasicBlock, tv_resnet.Bottleneck)


def _last(module: nn.Module, found=None):
    """(parent, name, child) of the last residual block or stand-alone ReLU under `module`."""
    for name, child in module.named_children():
        if isinstance(child, (*_RESIDUAL, nn.ReLU, RemovedReLU)):
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
    if isinstance(child, (BasicBlockNoReLU, BottleneckNoReLU, RemovedReLU)):
        return f"{name}: already {type(child).__name__}"
    if type(child) in _NO_RELU:
        child.__class__ = _NO_RELU[type(child)]
        return f"{name}: {type(child).__name__}"
    setattr(parent, name, RemovedReLU())
    return f"{name}: ReLU -> Identity"
