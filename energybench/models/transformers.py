"""Vision transformers as block lists: torchvision's ViT-B/16, ViT-B/32, ViT-L/16 and Swin-T, and
a small ViT for CPU runs (weights untrained; `--weights FILE` loads a local state dict).

Blocks are the patch embedding, each encoder block, and the final norm, so sharing cuts fall
on encoder-block boundaries. The blocks are torchvision's own modules (same Parameters, same
ops in the same order), so forward MACs equal torchvision's published figures and a
torchvision checkpoint loads into them by its own key names (`models/weights.py`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.vision_transformer import VisionTransformer

from energybench.models.backbone import Backbone

# name -> torchvision builder and patch size (the input side must be a multiple of it)
VIT = {"vit_b_16": (tvm.vit_b_16, 16), "vit_b_32": (tvm.vit_b_32, 32), "vit_l_16": (tvm.vit_l_16, 16)}
# The small ViT: patch 4 (7x7 tokens on 28x28, 8x8 on 32x32), 6 encoder blocks 64 wide (x width).
TINY_VIT = dict(patch_size=4, num_layers=6, num_heads=4, hidden_dim=64, mlp_dim=128)


class ViTEmbedding(nn.Module):
    """Patch embedding: the patch convolution, the class token prepended, the position embedding
    added (torchvision's `_process_input`, its class-token concatenation and its encoder's first
    lines, in the same order)."""

    def __init__(self, conv_proj: nn.Conv2d, class_token: nn.Parameter, pos_embedding: nn.Parameter,
                 dropout: nn.Module):
        super().__init__()
        self.conv_proj = conv_proj
        self.class_token = class_token
        self.pos_embedding = pos_embedding
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.conv_proj(x)  # (n, hidden, h/p, w/p)
        x = x.reshape(n, x.shape[1], -1).permute(0, 2, 1)  # (n, tokens, hidden)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.dropout(x + self.pos_embedding)


class ClassTokenNorm(nn.Module):
    """The final layer norm (over every token, as torchvision does), then the class token's
    features: the backbone's flat output."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.ln = ln

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)[:, 0]


def _check_square(name: str, in_shape: tuple[int, int, int], patch: int) -> None:
    c, h, w = in_shape
    if h != w:
        raise ValueError(f"{name} needs square inputs, got {h}x{w}")
    if h % patch:
        raise ValueError(f"{name} cuts {patch}x{patch} patches: the input side must be a multiple of {patch}, got {h}")


def _patch_conv(net: VisionTransformer, channels: int) -> None:
    """A patch convolution for `channels` input channels, initialised as torchvision does."""
    if channels == 3:
        return
    old = net.conv_proj
    conv = nn.Conv2d(channels, old.out_channels, old.kernel_size, stride=old.stride)
    nn.init.trunc_normal_(conv.weight, std=math.sqrt(1 / (channels * math.prod(old.kernel_size))))
    nn.init.zeros_(conv.bias)
    net.conv_proj = conv


def vit_blocks(name: str, net: VisionTransformer) -> Backbone:
    """A torchvision VisionTransformer as blocks: embedding, each encoder block, final norm."""
    enc = net.encoder
    blocks: list[nn.Module] = [ViTEmbedding(net.conv_proj, net.class_token, enc.pos_embedding, enc.dropout)]
    blocks += list(enc.layers)
    blocks.append(ClassTokenNorm(enc.ln))
    return Backbone(name, blocks, net.hidden_dim)


def vit(name: str, in_shape: tuple[int, int, int]) -> tuple[Backbone, nn.Module]:
    """torchvision's ViT `name` for square inputs of in_shape (the position embedding is sized
    for the number of patches). Returns (backbone, the torchvision model it was cut from)."""
    builder, patch = VIT[name]
    _check_square(name, in_shape, patch)
    net = builder(weights=None, image_size=in_shape[1])
    _patch_conv(net, in_shape[0])
    return vit_blocks(name, net), net


def tiny_vit(in_shape: tuple[int, int, int], width: float = 1.0) -> tuple[Backbone, nn.Module]:
    """A small ViT for CPU runs and tests: patch 4, 6 encoder blocks of 4 heads, 64 wide with a
    128-wide MLP (`width` scales both, in whole heads)."""
    cfg = dict(TINY_VIT)
    _check_square("tiny_vit", in_shape, cfg["patch_size"])
    heads = cfg["num_heads"]
    cfg["hidden_dim"] = heads * max(1, round(cfg["hidden_dim"] * width / heads))
    cfg["mlp_dim"] = max(1, round(cfg["mlp_dim"] * width))
    net = VisionTransformer(image_size=in_shape[1], num_classes=1, **cfg)
    _patch_conv(net, in_shape[0])
    return vit_blocks("tiny_vit", net), net


def swin_t(in_shape: tuple[int, int, int]) -> tuple[Backbone, nn.Module]:
    """torchvision's Swin-T: patch embedding, each Swin block (a stage's patch merging travels
    with the stage's first block, so every cut follows an encoder block), then the final norm
    and average pooling."""
    c, h, w = in_shape
    if min(h, w) < 4:
        raise ValueError(f"swin_t cuts 4x4 patches, got {h}x{w}")
    net = tvm.swin_t(weights=None)
    if c != 3:
        old = net.features[0][0]
        conv = nn.Conv2d(c, old.out_channels, old.kernel_size, stride=old.stride)
        net.features[0][0] = conv
    f = net.features
    blocks: list[nn.Module] = [f[0]]
    for i in range(1, len(f), 2):  # stages at odd positions, each preceded (from the second) by a merging
        stage = list(f[i])
        if i > 1:
            stage[0] = nn.Sequential(f[i - 1], stage[0])
        blocks += stage
    blocks.append(nn.Sequential(net.norm, net.permute, net.avgpool, net.flatten))
    return Backbone("swin_t", blocks, net.head.in_features), net
