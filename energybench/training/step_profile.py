"""One training step of a backbone, without data: build it, freeze the shared prefix and count
one SGD step (what `energybench cost` prices with cost/profile.py's `step_cost`)."""

from __future__ import annotations

import torch
from torch import nn

from energybench.cost.counter import count_step
from energybench.cost.step import StepProfile
from energybench.errors import UserError
from energybench.models import build_net
from energybench.models.surgery import Cut, cut_at
from energybench.training.sgd import SGD


def profile_training_step(model: str, in_shape: tuple[int, int, int], classes: int, batch: int = 1,
                          sharing: float = 0.0, *, width: float = 1.0, cifar_stem: bool = False,
                          device: str = "cpu", seed: int = 0) -> tuple[nn.Module, Cut, StepProfile]:
    """Build the network, freeze the shared prefix, run one counted SGD step (momentum 0.9,
    weight decay 5e-4) on seeded random inputs: counts depend on shapes only.
    Returns (net, cut, profile)."""
    torch.manual_seed(seed)
    with torch.device(device):  # on meta, no time goes into initialising weights
        net = build_net(model, in_shape, classes, width=width, cifar_stem=cifar_stem)
        x = torch.randn(batch, *in_shape)
        y = torch.randint(0, classes, (batch,))
    cut = cut_at(net.backbone, sharing)
    net.freeze_blocks(cut.blocks)
    net.train()
    opt = SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                          weight_decay=5e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    try:
        _, profile = count_step(step, net)
    except (RuntimeError, ValueError) as exc:
        if "overflow" in str(exc).lower() or "allocate" in str(exc) or "out of memory" in str(exc):
            raise  # a size no machine (or no 64-bit shape) holds: the caller says so with its own advice
        shape = "x".join(map(str, in_shape))
        hint = (" (batch norm in training mode needs more than one value per channel: use --batch-size 2 or more,"
                " or a larger input)" if "more than 1 value per channel" in str(exc) else "")
        raise UserError(f"model '{model}' cannot train on input {shape} with batch {batch}: "
                        f"{str(exc).splitlines()[0]}{hint}") from None
    return net, cut, profile
