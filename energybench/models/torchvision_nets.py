"""torchvision's ResNets and VGG-19 re-expressed as block lists (weights untrained).

The block split keeps torchvision's modules, so forward MACs equal torchvision's published
figures (conv + linear MACs). `cifar_stem=True` swaps in the usual 32x32 stem: a 3x3 stride-1
first conv and no max-pool for ResNets; for VGG, no 7x7 adaptive pool and 512-wide classifier
layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import resnet as tv_resnet

from energybench.models.backbone import Backbone, Flatten


# LUCIR removes the backbone's last ReLU (see last_relu.py): the last residual block is swapped,
# in place, to one of these subclasses, whose forward ends at the residual sum.
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


NO_RELU = {tv_resnet.BasicBlock: BasicBlockNoReLU, tv_resnet.Bottleneck: BottleneckNoReLU}


def torchvision_resnet(name: str, in_shape: tuple[int, int, int],
                       cifar_stem: bool = False) -> tuple[Backbone, nn.Module]:
    """Returns (backbone, the torchvision model its blocks were taken from)."""
    net = getattr(tvm, name)(weights=None)
    if cifar_stem:
        conv1 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
        stem = nn.Sequential(conv1, net.bn1, net.relu)
    else:
        if in_shape[0] != 3:
            net.conv1 = nn.Conv2d(in_shape[0], 64, 7, stride=2, padding=3, bias=False)
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    blocks: list[nn.Module] = [stem]
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        blocks.extend(layer)
    blocks.append(nn.Sequential(net.avgpool, Flatten()))
    return Backbone(name, blocks, net.fc.in_features), net


def vgg19(in_shape: tuple[int, int, int], cifar_stem: bool = False) -> tuple[Backbone, nn.Module]:
    """Returns (backbone, the torchvision model its blocks were taken from)."""
    net = tvm.vgg19(weights=None)
    features = list(net.features)
    if in_shape[0] != 3:
        features[0] = nn.Conv2d(in_shape[0], 64, 3, padding=1)
    # One block per conv layer; a following ReLU and max-pool travel with their conv.
    blocks: list[nn.Module] = []
    current: list[nn.Module] = []
    for layer in features:
        if isinstance(layer, nn.Conv2d) and current:
            blocks.append(nn.Sequential(*current))
            current = []
        current.append(layer)
    if cifar_stem:
        current.append(Flatten())
        blocks.append(nn.Sequential(*current))
        blocks.append(nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout()))
        blocks.append(nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout()))
        return Backbone("vgg19", blocks, 512), net
    current += [net.avgpool, Flatten()]
    blocks.append(nn.Sequential(*current))
    blocks.append(nn.Sequential(*net.classifier[0:3]))  # fc 25088->4096, ReLU, Dropout
    blocks.append(nn.Sequential(*net.classifier[3:6]))  # fc 4096->4096, ReLU, Dropout
    return Backbone("vgg19", blocks, net.classifier[6].in_features), net
