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
from energybench.training.step_memory import free_bytes, held_at_forward_end


def profile_training_step(model: str, in_shape: tuple[int, int, int], classes: int, batch: int = 1,
                          sharing: float = 0.0, *, width: float = 1.0, cifar_stem: bool = False,
                          device: str = "cpu", seed: int = 0) -> tuple[nn.Module, Cut, StepProfile]:
    """Build the network, freeze the shared prefix, run one counted SGD step (momentum 0.9,
    weight decay 5e-4) on seeded random inputs: counts depend on shapes only. On a real device, a
    step that cannot fit in its free memory is refused first (UserError), not left to fill it.
    Returns (net, cut, profile)."""
    if torch.device(device).type != "meta":
        check_step_memory(model, in_shape, classes, batch, torch.device(device), sharing=sharing, width=width,
                          cifar_stem=cifar_stem, advice="give a smaller --batch-size, or --device meta, which "
                          "counts the same operations on shapes only")
    torch.manual_seed(seed)
    net, cut, x, y = _built(model, in_shape, classes, batch, sharing, width, cifar_stem, device=device)
    opt = SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                          weight_decay=5e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    try:
        _, profile = count_step(step, net)
    except (RuntimeError, ValueError) as exc:
        if _too_large(exc):
            raise  # a size no machine (or no 64-bit shape) holds: the caller says so with its own advice
        raise _cannot_train(model, in_shape, batch, exc) from None
    return net, cut, profile


def _built(model: str, in_shape: tuple[int, int, int], classes: int, batch: int, sharing: float, width: float,
           cifar_stem: bool, device: str) -> tuple[nn.Module, Cut, torch.Tensor, torch.Tensor]:
    """The network in training mode with its shared prefix frozen, and a random batch, on `device`."""
    with torch.device(device):  # on meta, no time goes into initialising weights
        net = build_net(model, in_shape, classes, width=width, cifar_stem=cifar_stem)
        x = torch.randn(batch, *in_shape)
        y = torch.randint(0, classes, (batch,))
    cut = cut_at(net.backbone, sharing)
    net.freeze_blocks(cut.blocks)
    net.train()
    return net, cut, x, y


def check_step_memory(model: str, in_shape: tuple[int, ...], classes: int, batch: int, device: torch.device, *,
                      sharing: float = 0.0, width: float = 1.0, cifar_stem: bool = False,
                      advice: str = "give a smaller --batch-size", sampled: bool = False) -> None:
    """Refuse (UserError, ending with `advice`) a training step whose forward alone must hold more
    than `device` has free (step_floor). Where free memory cannot be read or the pass fails (a
    user's network that cannot be built there), the step is left to run."""
    free = free_bytes(device)
    if free is None:
        return
    try:
        need = step_floor(model, in_shape, classes, batch, device, sharing=sharing, width=width,
                          cifar_stem=cifar_stem, sampled=sampled)
    except Exception:  # noqa: BLE001 - any failure here only means no early answer; the step itself says why
        return
    if need > free:
        shape = "x".join(map(str, in_shape))
        raise UserError(f"one training step of {model} at batch {batch:,} on {shape} must hold at least "
                        f"{need / 2**30:,.1f} GiB at once (its weights, input and the activations its backward "
                        f"keeps), more than the {free / 2**30:,.1f} GiB free on {device}: {advice}")


def step_floor(model: str, in_shape: tuple[int, ...], classes: int, batch: int, device: torch.device, *,
               sharing: float = 0.0, width: float = 1.0, cifar_stem: bool = False, sampled: bool = False) -> int:
    """Bytes a training step's forward must hold at once (step_memory.held_at_forward_end): on the
    meta device (shapes only), or, `sampled`, from forwards of 2 and 3 samples on `device`
    extrapolated to the batch (the weights are held once, every activation grows with the batch;
    the device's own kernels decide what is saved). A run's pre-flight samples: the meta device's
    Python references would import torch._dynamo (1.4 s) into every run."""
    if not sampled:
        net, _, x, y = _built(model, in_shape, classes, batch, sharing, width, cifar_stem, device="meta")
        return held_at_forward_end(net, x, y)
    with torch.random.fork_rng(devices=[]):  # the run's random numbers stay as they were
        net, _, x, y = _built(model, in_shape, classes, 3, sharing, width, cifar_stem, device=str(device))
    # (two samples of their own: a view of the three would hold the three's storage)
    two, three = held_at_forward_end(net, x[:2].clone(), y[:2].clone()), held_at_forward_end(net, x, y)
    return two + (three - two) * (batch - 2)


def _too_large(exc: Exception) -> bool:
    text = str(exc)
    return "overflow" in text.lower() or "allocate" in text or "out of memory" in text


def _cannot_train(model: str, in_shape: tuple[int, int, int], batch: int, exc: Exception) -> UserError:
    shape = "x".join(map(str, in_shape))
    hint = (" (batch norm in training mode needs more than one value per channel: use --batch-size 2 or more,"
            " or a larger input)" if "more than 1 value per channel" in str(exc) else "")
    return UserError(f"model '{model}' cannot train on input {shape} with batch {batch}: "
                     f"{str(exc).splitlines()[0]}{hint}")
