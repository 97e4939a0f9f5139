"""A counted training step of a single module, for the cost model's hand-derived tests."""

from __future__ import annotations

import torch
from torch import nn

from energybench.cost.counter import count_step


def profile_of(module: nn.Module, x_shape, frozen=False):
    """One SGD step (momentum 0.9: one state element per weight) of `module` alone, its input
    needing a gradient so that every pass runs."""
    torch.manual_seed(0)
    if frozen:
        module.requires_grad_(False)
    x = torch.randn(*x_shape, requires_grad=True)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9) if params else None

    def step():
        if opt:
            opt.zero_grad()
        module(x).sum().backward()
        if opt:
            opt.step()

    return count_step(step, module)[1]
