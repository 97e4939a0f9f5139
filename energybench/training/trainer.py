"""The training loop: SGD with momentum and a multi-step schedule, timing, and step profiles.

The first step of each kind (model structure, trainable set, batch shape, loss: its code and
`kind`) runs under the op counter; every later step of that kind is counted by multiplication.
Methods pass a loss function and never see costs.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import torch
from torch import nn
from tqdm import tqdm

from energybench.cost.counter import StepProfile, count_forward, count_step
from energybench.cost.ledger import CostLedger
from energybench.data.augment import Augment
from energybench.data.scenario import Scenario, take
from energybench.training.sgd import SGD

EVAL_BATCH = 256
T = TypeVar("T")


@dataclass
class Batch:
    x: torch.Tensor  # inputs, or cached trunk outputs when start > 0
    y: torch.Tensor  # labels remapped to class-order positions
    idx: torch.Tensor  # indices into the training split (for per-sample stored targets)
    start: int = 0  # the backbone block that x enters at


@dataclass
class FitResult:
    iters: int = 0
    samples: int = 0  # training samples processed (a sample seen in two epochs counts twice)
    time_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of this process (all threads): robust to other load on the machine
    epoch_losses: list[float] = field(default_factory=list)


def loss_code(loss_fn: Callable) -> object:
    """What tells two losses apart in a step's kind besides its `kind` name: the function's code
    (the closures one `def` makes share it), a partial's function's, else the callable's class. Two
    losses from different code are never counted as one, whatever `kind` says."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    return getattr(loss_fn, "__code__", None) or type(loss_fn)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    def __init__(self, scenario: Scenario, device: torch.device, *, epochs: int, batch_size: int, lr: float,
                 momentum: float, weight_decay: float, milestones: list[float], gamma: float,
                 augment: Augment | None, seed: int, progress: bool = True):
        self.scenario, self.device = scenario, device
        self.defaults = dict(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum,
                             weight_decay=weight_decay, milestones=milestones, gamma=gamma, augment=augment)
        self.gen = torch.Generator().manual_seed(seed)
        self.progress = progress
        self.profiles: dict[tuple, StepProfile] = {}
        self._fit_clock: tuple[float, float, float, float] | None = None  # set while fit() runs
        self._callback_s = [0.0, 0.0]
        self._paused: tuple[float, float] | None = None  # (wall, CPU) clock when a callback started
        self.begin_phase()

    # ----- per-phase accounting ----------------------------------------------------------------
    def begin_phase(self) -> None:
        self.ledger = CostLedger()
        self.iters = 0
        self.samples = 0
        self.train_time_s = 0.0
        self.train_cpu_s = 0.0
        self.steps: Counter = Counter()
        self.cached_trunk = False  # whether a fit this phase trained on cached trunk outputs
        self.nonfinite: list[str] = []  # fits of this phase whose loss was NaN or infinite ("desc epoch k")

    def end_phase(self) -> CostLedger:
        for key, n in self.steps.items():
            self.ledger.add_train(self.profiles[key], n)
        self.steps.clear()
        return self.ledger

    def counted(self, key: tuple, fn: Callable[[], T], model: nn.Module, *, train: bool) -> T:
        """Run `fn` (a training step when `train`, else a forward under no_grad); the first run of
        each kind `key` goes under the op counter and its profile stands for every later one."""
        if key in self.profiles:
            return fn()
        result, self.profiles[key] = (count_step if train else count_forward)(fn, model)
        return result

    def count_eval(self, key: tuple, fn: Callable[[], T], model: nn.Module) -> T:
        """Run an evaluation forward, counting the first of each kind; returns fn()'s value."""
        result = self.counted(key, fn, model, train=False)
        self.ledger.add_eval(self.profiles[key], 1)
        return result

    # ----- training ----------------------------------------------------------------------------
    def fit(self, net: nn.Module, idx: torch.Tensor, loss_fn: Callable[[nn.Module, "Batch"], torch.Tensor], *,
            kind: str = "ce", cache_trunk: bool = False, params: list[nn.Parameter] | None = None,
            max_steps: int | None = None, on_epoch_end: Callable[[int, float], bool] | None = None,
            desc: str = "train", **overrides) -> FitResult:
        """Train `net` on training indices `idx`; returns iterations, time and epoch losses.

        `on_epoch_end(epoch, mean_loss)` may return True to stop early (plateau rules). Its own
        time (e.g. a test-set evaluation for an accuracy trace) is not training time.
        """
        hp = {**self.defaults, **{k: v for k, v in overrides.items() if v is not None}}
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise TypeError(f"unknown training overrides: {sorted(unknown)}")
        params = [p for p in (params if params is not None else net.parameters()) if p.requires_grad]
        result = FitResult()
        if not params or len(idx) == 0:
            return result
        opt, sched = self._optimizer(params, hp)
        epochs, augment = hp["epochs"], hp["augment"]
        net.train()
        sync(self.device)
        t0, c0 = time.perf_counter(), time.process_time()  # building the cache is part of training time
        self._fit_clock = (t0, c0, self.train_time_s, self.train_cpu_s)
        self._callback_s = [0.0, 0.0]  # wall, CPU
        start, cached = 0, None
        if cache_trunk and not augment:
            start = net.frozen_blocks
            cached = self._trunk_outputs(net, idx, start)
            self.cached_trunk = True
        structure = tuple((n, tuple(p.shape), p.requires_grad) for n, p in net.named_parameters())
        code = loss_code(loss_fn)  # (once a fit: the key is built every step)
        y_all = self.scenario.train_y
        bs = hp["batch_size"]
        for epoch in range(epochs):
            order = torch.randperm(len(idx), generator=self.gen)
            batches = [order[i:i + bs] for i in range(0, len(idx), bs)]
            total, seen = 0.0, 0
            for pos in tqdm(batches, desc=f"{desc} epoch {epoch + 1}/{epochs}", leave=False,
                            disable=not self.progress, unit="step"):
                sample = idx[pos]
                if cached is not None:
                    x = cached[pos]
                else:
                    x, _ = take(self.scenario, "train", sample)
                    x = x.to(self.device, non_blocking=True)
                    if augment:
                        x = augment(x, self.gen)
                batch = Batch(x, y_all[sample].to(self.device, non_blocking=True), sample, start)

                def step() -> torch.Tensor:
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(net, batch)
                    loss.backward()
                    opt.step()
                    return loss

                key = ("train", kind, code, id(net), structure, tuple(x.shape), start)
                loss = self.counted(key, step, net, train=True)
                self.steps[key] += 1
                result.iters += 1
                result.samples += len(sample)
                total += float(loss.detach()) * len(sample)
                seen += len(sample)
                if max_steps is not None and result.iters >= max_steps:
                    break
            sched.step()
            result.epoch_losses.append(total / max(seen, 1))
            if not math.isfinite(result.epoch_losses[-1]):
                self.nonfinite.append(f"{desc} epoch {epoch + 1}/{epochs}")
            if max_steps is not None and result.iters >= max_steps:
                break
            if on_epoch_end is not None and self._epoch_end(on_epoch_end, epoch, result.epoch_losses[-1]):
                break
        return self._finish(result, t0, c0)

    @staticmethod
    def _optimizer(params: list[nn.Parameter], hp: dict):
        """SGD with momentum, and its step decay at the milestones (fractions of the epochs)."""
        opt = SGD(params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"])
        epochs = hp["epochs"]
        milestones = sorted({max(1, round(f * epochs)) for f in hp["milestones"] if round(f * epochs) < epochs})
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=hp["gamma"])

    def _epoch_end(self, on_epoch_end: Callable[[int, float], bool], epoch: int, loss: float) -> bool:
        """The caller's end-of-epoch hook, off the training clock; True: stop training."""
        sync(self.device)
        self._paused = (time.perf_counter(), time.process_time())  # the training clock stops here
        stop = on_epoch_end(epoch, loss)
        self._callback_s[0] += time.perf_counter() - self._paused[0]
        self._callback_s[1] += time.process_time() - self._paused[1]
        self._paused = None
        return bool(stop)

    def _finish(self, result: FitResult, t0: float, c0: float) -> FitResult:
        """A fit's time (without its hooks'), added to the trainer's totals."""
        sync(self.device)
        result.time_s = time.perf_counter() - t0 - self._callback_s[0]
        result.cpu_s = time.process_time() - c0 - self._callback_s[1]
        self._fit_clock = None
        self.iters += result.iters
        self.samples += result.samples
        self.train_time_s += result.time_s
        self.train_cpu_s += result.cpu_s
        return result

    def elapsed(self) -> tuple[float, float]:
        """Training (wall, CPU) seconds of this phase so far, the running fit included (for an
        on_epoch_end callback: up to the callback's start); callbacks' own time excluded."""
        clock = self._fit_clock
        if clock is None:
            return self.train_time_s, self.train_cpu_s
        t0, c0, wall, cpu = clock
        now = self._paused or (time.perf_counter(), time.process_time())
        return wall + now[0] - t0 - self._callback_s[0], cpu + now[1] - c0 - self._callback_s[1]

    def train_macs(self) -> int:
        """Counted training MACs of this phase so far (the steps taken times their profiles)."""
        return sum(self.profiles[key].train_macs * n for key, n in self.steps.items())

    def steps_taken(self) -> int:
        """Training steps of this phase so far, the running fit's included (`iters` counts
        a fit's steps when it returns)."""
        return sum(n for key, n in self.steps.items() if self.profiles[key].kind == "train")

    @torch.no_grad()
    def _trunk_outputs(self, net: nn.Module, idx: torch.Tensor, stop: int) -> torch.Tensor:
        """Run the frozen trunk once over the phase's data (counted as training work)."""
        outs = []
        trunk = net.backbone
        for i in range(0, len(idx), EVAL_BATCH):
            x, _ = take(self.scenario, "train", idx[i:i + EVAL_BATCH])
            x = x.to(self.device)
            key = ("cache", id(net), stop, tuple(x.shape))
            outs.append(self.counted(key, lambda: trunk.forward_until(x, stop), trunk, train=False))
            self.steps[key] += 1
        return torch.cat(outs)
