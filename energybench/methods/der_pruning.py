"""DER's channel-level masks and pruning of a new feature extractor (Yan et al., CVPR 2021, Sec. 3.3
"Dynamical Expansion": channel-level masks, sparsity loss, pruning; the section number is not checked,
as the paper's text is not in this repository).

While a phase t > 0 trains, every masked convolution's output is multiplied per channel by
m = sigmoid(s * e), e a learned embedding per channel (HAT's masks, which DER adopts). Within each
epoch s is annealed over the batches, s = 1/s_max + (s_max - 1/s_max) (b - 1) / (B - 1) for batch b of
B, so the mask starts soft and ends near binary. The sparsity loss is the fraction of the
extractor's weights still in use, each layer weighted by its share of the parameters:
    L_S = sum_l K_l a_in(l) a_out(l) / sum_l K_l c_in(l) c_out(l),
a = ||m||_1 for a masked side, c (a constant) for an unmasked one, K_l the weights per
(input, output) channel pair (the kernel area; for a linear layer reading a flattened map, the
positions per channel). After the phase the masks are taken at s = s_max: the channels whose mask
is below the threshold are removed, the layers are rebuilt smaller (the convolution's filters, its
batch norm, and the next layer's input channels), and the kept masks are folded into the batch
norm's (or, without one, the convolution's) scale and shift, so the pruned extractor computes what
the masked one did on the kept channels. The masks' forward (sigmoid, product) and the sparsity
loss are ordinary ops, counted while training; after pruning every forward runs the smaller layers.

What is masked: a convolution whose output feeds only the next convolution or linear layer of a
chain (nn.Sequential nesting, with element-wise and pooling modules between), and the inner
convolution of a residual basic block (conv1 -> bn1 -> conv2). The convolution that makes the
extractor's features is not masked (the classifier's width stays), nor is a residual stream.

Reference code checked against: the authors' DER-ClassIL.pytorch (Rhyssiyan, read) and PyCIL's
models/der.py (read): neither has masks or pruning (the first ships its "DER w/o mask" configs,
the second notes the released code lacks them), so this follows the paper's text alone. Written
here, nothing copied.

Deviations (reasons):
- the phase-0 extractor is not masked, and with pruning on every new extractor starts as a copy of
  it rather than of the newest (pruned) one, so extractors do not shrink phase over phase;
- residual streams and the feature-producing layer are not pruned (a channel of a sum can only go
  if every addend drops it; the classifier reads a fixed width per extractor);
- embeddings start at e = 1 (every channel open), where HAT draws them at random; HAT's gradient
  compensation and its clamp of e to [-6, 6] are applied (the paper takes its masks from HAT; the
  clamp is done before each forward, i.e. after the previous update);
- a mask whose channels all fall below the threshold keeps its largest channel, so the extractor
  still computes something;
- the defaults are this code's choice, not the paper's: s_max = 400 (HAT's), threshold 0.5 (e < 0 at
  s_max), sparsity weight 0.3 (on a digits run at width 0.25, 4 epochs, B4-3x2, 0.1 pruned nothing,
  1.0 nearly every channel; 0.3 gave 26.8% / 18.1% at phases 1 / 2 against 27.3% / 21.3% without
  pruning, with 43% fewer evaluation MACs at phase 2: one seed, noisy); tune it per backbone and data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from energybench.errors import UserError
from energybench.models.backbone import Flatten

EMB_CLAMP = 6.0  # HAT keeps every embedding in [-6, 6]
PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                nn.AdaptiveMaxPool2d, nn.Flatten, Flatten, nn.Dropout, nn.Identity)


class Scale:
    """The annealed s, shared by every mask of one extractor."""

    def __init__(self, s_max: float):
        self.s_max = s_max
        self.s = s_max

    def at(self, b: int, batches: int) -> None:
        """s for batch b (0-based) of `batches` in an epoch."""
        frac = b / (batches - 1) if batches > 1 else 1.0
        self.s = 1 / self.s_max + (self.s_max - 1 / self.s_max) * frac


class ChannelMask(nn.Module):
    def __init__(self, channels: int, scale: Scale, like: torch.Tensor):
        super().__init__()
        # every channel open (m = sigmoid(s_max) at the phase's end); HAT draws e at random
        self.e = nn.Parameter(torch.ones(channels, device=like.device, dtype=like.dtype))
        self.e.register_hook(self.compensate)
        self.scale = scale

    def compensate(self, grad: torch.Tensor) -> torch.Tensor:
        """HAT's gradient compensation: the gradient of sigmoid(s e) is s sigmoid'(s e), which shrinks as
        s e saturates (a nearly closed channel could hardly reopen) and swings with s; rescale it to
        s_max sigmoid'(e), the gradient of a mask of fixed sharpness. (Where s e saturates to 0 in
        floating point nothing is left to rescale, as in HAT: early batches, s small, reopen channels.)"""
        s, e = self.scale.s, self.e.detach()
        return grad * (self.scale.s_max / s) * (torch.cosh(torch.clamp(s * e, -EMB_CLAMP * 8, EMB_CLAMP * 8)) + 1) \
            / (torch.cosh(e) + 1)

    def values(self) -> torch.Tensor:
        return torch.sigmoid(self.e * self.scale.s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.values().view(1, -1, *([1] * (x.dim() - 2)))


@dataclass
class Slot:
    parent: nn.Module
    name: str

    def get(self) -> nn.Module:
        return self.parent._modules[self.name]

    def set(self, module: nn.Module) -> None:
        self.parent._modules[self.name] = module


@dataclass
class Site:
    """One masked convolution: its slot, its batch norm's (if any), and the layer that reads it."""
    conv: Slot
    bn: Slot | None
    reader: Slot
    mask: ChannelMask | None = None

    @property
    def mask_slot(self) -> Slot:
        return self.bn or self.conv


def _leaves(module: nn.Module) -> list[Slot]:
    """The modules a chain runs in order: nested nn.Sequential opened, anything else one unit."""
    out = []
    for name, child in module._modules.items():
        if type(child) is nn.Sequential:
            out += _leaves(child)
        else:
            out.append(Slot(module, name))
    return out


def _basic_block(m: nn.Module) -> bool:
    return (isinstance(getattr(m, "conv1", None), nn.Conv2d) and isinstance(getattr(m, "bn1", None), nn.BatchNorm2d)
            and isinstance(getattr(m, "conv2", None), nn.Conv2d) and not hasattr(m, "conv3"))


def _refuse(m: nn.Module, why: str) -> UserError:
    between = ", ".join(sorted({t.__name__ for t in PASS_THROUGH}))
    return UserError(f"DER option prune: cannot prune a {type(m).__name__} ({why}); pruning supports chains of "
                     f"Conv2d (groups 1), BatchNorm2d (affine), Linear, {between} and residual basic blocks "
                     f"(conv1, bn1, conv2); use prune: false with this backbone")


def plan(branch: nn.Module) -> list[Site]:
    """The masked convolutions of `branch`; UserError naming the first module it cannot prune."""
    leaves, sites = _leaves(branch), []
    for i, slot in enumerate(leaves):
        m = slot.get()
        if isinstance(m, nn.Conv2d):
            if m.groups != 1:
                raise _refuse(m, f"groups {m.groups}")
            bn, j = None, i + 1
            if j < len(leaves) and isinstance(leaves[j].get(), nn.BatchNorm2d):
                bn, j = leaves[j], j + 1
                if not bn.get().affine:
                    raise _refuse(bn.get(), "affine false")
            while j < len(leaves) and isinstance(leaves[j].get(), PASS_THROUGH):
                j += 1
            nxt = leaves[j].get() if j < len(leaves) else None
            if isinstance(nxt, nn.Linear) and nxt.in_features % m.out_channels:
                raise _refuse(nxt, f"{nxt.in_features} inputs from {m.out_channels} channels")
            if isinstance(nxt, (nn.Conv2d, nn.Linear)):
                sites.append(Site(slot, bn, leaves[j]))
        elif _basic_block(m):
            if m.conv1.groups != 1 or m.conv2.groups != 1:
                raise _refuse(m, "grouped convolutions")
            sites.append(Site(Slot(m, "conv1"), Slot(m, "bn1"), Slot(m, "conv2")))
        elif isinstance(m, nn.BatchNorm2d):
            if i == 0 or not isinstance(leaves[i - 1].get(), nn.Conv2d):
                raise _refuse(m, "a batch norm not right after a convolution")
        elif not isinstance(m, (nn.Linear, *PASS_THROUGH)):
            raise _refuse(m, "an unknown module")
    return sites


def _weight_layers(sites: list[Site]) -> list[tuple[nn.Module, ChannelMask | None, ChannelMask | None]]:
    """Every weight layer that a mask touches: (layer, mask on its input, mask on its output)."""
    by_conv = {id(s.conv.get()): s.mask for s in sites}
    by_reader = {id(s.reader.get()): s.mask for s in sites}
    layers, seen = [], set()
    for s in sites:
        for layer in (s.conv.get(), s.reader.get()):
            if id(layer) not in seen:
                seen.add(id(layer))
                layers.append((layer, by_reader.get(id(layer)), by_conv.get(id(layer))))
    return layers


def _io(layer: nn.Module) -> tuple[int, int]:
    return (layer.in_channels, layer.out_channels) if isinstance(layer, nn.Conv2d) else (layer.in_features,
                                                                                        layer.out_features)


@dataclass
class Pruner:
    """Masks on one extractor for one phase: attach, the loss term, then prune."""
    branch: nn.Module
    s_max: float
    weight: float
    threshold: float
    sites: list[Site] = field(default_factory=list)

    def attach(self) -> None:
        self.scale = Scale(self.s_max)
        self.sites = plan(self.branch)
        for s in self.sites:
            conv = s.conv.get()
            s.mask = ChannelMask(conv.out_channels, self.scale, conv.weight)
            s.mask_slot.set(nn.Sequential(s.mask_slot.get(), s.mask))
        self.layers = _weight_layers(self.sites)
        self.total = sum(layer.weight.numel() for layer, _, _ in self.layers)

    def sparsity(self) -> torch.Tensor:
        """L_S: the parameter-weighted fraction of the masked layers' weights in use."""
        used = 0
        for layer, m_in, m_out in self.layers:
            c_in, c_out = _io(layer)
            if m_in is not None:  # a linear layer reads `per` inputs per channel of its masked input
                c_in = m_in.e.numel()
            k = layer.weight.numel() / (c_in * c_out)
            a_in = m_in.values().sum() if m_in is not None else c_in
            a_out = m_out.values().sum() if m_out is not None else c_out
            used = used + k * a_in * a_out
        return used / self.total

    def loss(self, base, batches_per_epoch: int):
        """`base` + weight x L_S, setting s for each batch of the epoch (one call per step)."""
        calls = [0]

        def loss(net, batch):
            with torch.no_grad():  # HAT's clamp after each update, done before the next forward
                for site in self.sites:
                    site.mask.e.clamp_(-EMB_CLAMP, EMB_CLAMP)
            self.scale.at(calls[0] % batches_per_epoch, batches_per_epoch)
            calls[0] += 1
            return base(net, batch) + self.weight * self.sparsity()

        return loss

    @torch.no_grad()
    def prune(self) -> list[int]:
        """Remove the channels whose mask at s_max is below the threshold, rebuild the layers
        smaller, fold the kept masks in, drop the masks. Returns the kept channels per site."""
        self.scale.s = self.s_max
        kept, scale = {}, {}
        for s in self.sites:
            m = s.mask.values()
            idx = (m >= self.threshold).nonzero().flatten()
            kept[id(s.mask)] = idx if len(idx) else m.argmax().view(1)
            scale[id(s.mask)] = m
            s.mask_slot.set(s.mask_slot.get()[0])  # unwrap: the layers are plain again
        layers = {id(layer): (m_in, m_out) for layer, m_in, m_out in self.layers}
        slots = {}
        for s in self.sites:
            slots[id(s.conv.get())], slots[id(s.reader.get())] = s.conv, s.reader
        for key, slot in slots.items():
            m_in, m_out = layers[key]
            old = slot.get()
            in_idx = kept[id(m_in)] if m_in is not None else None
            out_idx = kept[id(m_out)] if m_out is not None else None
            slot.set(_sliced(old, in_idx, out_idx, m_in.e.numel() if m_in is not None else 0))
        for s in self.sites:
            idx = kept[id(s.mask)]
            m = scale[id(s.mask)][idx]
            if s.bn is not None:
                bn = _bn_sliced(s.bn.get(), idx)
                bn.weight.mul_(m)
                bn.bias.mul_(m)
                s.bn.set(bn)
            else:  # fold into the (already sliced) convolution
                conv = s.conv.get()
                conv.weight.mul_(m.view(-1, 1, 1, 1))
                if conv.bias is not None:
                    conv.bias.mul_(m)
        self.layers = []
        return [len(kept[id(s.mask)]) for s in self.sites]


def _sliced(layer: nn.Module, in_idx: torch.Tensor | None, out_idx: torch.Tensor | None, channels: int) -> nn.Module:
    """A copy of a conv or linear layer keeping input channels `in_idx` (of `channels`) and outputs
    `out_idx` (None: all)."""
    w = layer.weight
    b = layer.bias
    c_out = w.shape[0]
    out_idx = torch.arange(c_out, device=w.device) if out_idx is None else out_idx
    if isinstance(layer, nn.Conv2d):
        in_idx = torch.arange(w.shape[1], device=w.device) if in_idx is None else in_idx
        new = nn.Conv2d(len(in_idx), len(out_idx), layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                        bias=b is not None, padding_mode=layer.padding_mode, device=w.device, dtype=w.dtype)
        cols = in_idx
    else:
        if in_idx is None:
            cols = torch.arange(w.shape[1], device=w.device)
        else:  # a flattened (C, H, W) map: channel c is columns c*per .. c*per + per - 1
            per = w.shape[1] // channels
            cols = (in_idx.view(-1, 1) * per + torch.arange(per, device=w.device)).flatten()
        new = nn.Linear(len(cols), len(out_idx), bias=b is not None, device=w.device, dtype=w.dtype)
    new.weight.copy_(w[out_idx][:, cols])
    if b is not None:
        new.bias.copy_(b[out_idx])
    new.requires_grad_(w.requires_grad)
    return new.train(layer.training)


def _bn_sliced(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(idx), bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                         device=bn.weight.device, dtype=bn.weight.dtype)
    new.weight.copy_(bn.weight[idx])
    new.bias.copy_(bn.bias[idx])
    if bn.track_running_stats:
        new.running_mean.copy_(bn.running_mean[idx])
        new.running_var.copy_(bn.running_var[idx])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.requires_grad_(bn.weight.requires_grad)
    return new.train(bn.training)


def batches(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))
