"""Accuracy of a method after a phase: all / old / new classes, per classifier, confusion."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from energybench.data.scenario import Phase, Scenario, take
from energybench.training.trainer import EVAL_BATCH, Trainer


@dataclass
class EvalResult:
    acc: dict[str, float]  # classifier -> accuracy over all seen classes (%)
    acc_old: dict[str, float]
    acc_new: dict[str, float]
    group_acc: list[float]  # primary classifier's accuracy on each phase's classes (%)
    confusion: np.ndarray  # primary classifier, rows = true class, cols = predicted
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return next(iter(self.acc))


def _pct(hits: torch.Tensor, mask: torch.Tensor) -> float:
    n = int(mask.sum())
    return float(100.0 * hits[mask].float().mean()) if n else float("nan")


def evaluate(method, scenario: Scenario, phase: Phase, trainer: Trainer, device: torch.device) -> EvalResult:
    idx = phase.test_idx
    for module in method.storage_modules():
        module.eval()  # batch norm uses running statistics and dropout is off for every model
    preds: dict[str, list[torch.Tensor]] = {}
    top5, task_aware = [], []  # primary classifier only
    bounds = [p.classes for p in scenario.phases[: phase.index + 1]]
    labels = []
    for i in range(0, len(idx), EVAL_BATCH):
        x, y = take(scenario, "test", idx[i:i + EVAL_BATCH])
        x = x.to(device)
        key = ("eval", method.name, id(method), phase.index, tuple(x.shape))
        scores = checked_scores(trainer.count_eval(key, lambda: method.predict(x), method.net), len(x), phase.seen)
        for name, s in scores.items():
            preds.setdefault(name, []).append(s.argmax(1).cpu())
        primary_scores = next(iter(scores.values())).detach().cpu()
        if phase.seen > 5:  # with 5 classes or fewer every sample is a top-5 hit
            top5.append(top5_hits(primary_scores, y))
        task_aware.append(task_aware_hits(primary_scores, y, bounds))
        labels.append(y)
    y = torch.cat(labels)
    old = y < phase.first_class
    new = ~old
    acc, acc_old, acc_new = {}, {}, {}
    for name, parts in preds.items():
        hits = torch.cat(parts) == y
        acc[name] = _pct(hits, torch.ones_like(old))
        acc_old[name] = _pct(hits, old)
        acc_new[name] = _pct(hits, new)
    primary = torch.cat(next(iter(preds.values())))
    hits = primary == y
    bounds = [p.classes for p in scenario.phases[: phase.index + 1]]
    group_acc = [_pct(hits, (y >= c[0]) & (y <= c[-1])) for c in bounds]
    confusion = np.zeros((phase.seen, phase.seen), dtype=np.int64)
    np.add.at(confusion, (y.numpy(), primary.numpy()), 1)
    everything = torch.ones_like(old)
    extra = {"acc_top5": _pct(torch.cat(top5), everything) if top5 else float("nan"),
             "acc_task_aware": _pct(torch.cat(task_aware), everything)}
    return EvalResult(acc, acc_old, acc_new, group_acc, confusion, extra)


def checked_scores(scores, batch: int, seen: int) -> dict[str, torch.Tensor]:
    """predict()'s answer, or a TypeError saying what it must be (a user's method gets it with its
    name and phase, instead of an error from the code that reads the scores)."""
    if not isinstance(scores, dict) or not scores:
        raise TypeError(f"predict() must return a dict {{classifier name: scores}}, primary first, got "
                        f"{type(scores).__name__ if scores is not None else 'None'}"
                        + (" (empty)" if isinstance(scores, dict) else ""))
    for name, s in scores.items():
        if not isinstance(s, torch.Tensor) or tuple(s.shape) != (batch, seen):
            got = f"shape {tuple(s.shape)}" if isinstance(s, torch.Tensor) else type(s).__name__
            raise TypeError(f"predict()'s '{name}' scores must be a tensor of shape (batch, classes seen) = "
                            f"({batch}, {seen}), got {got}")
    return scores


def top5_hits(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether each sample's class is among its 5 highest scores."""
    return (scores.topk(5, dim=1).indices == y[:, None]).any(1)


def task_aware_hits(scores: torch.Tensor, y: torch.Tensor, bounds: list[list[int]]) -> torch.Tensor:
    """Whether each sample is right when the phase (task) it belongs to is given: the argmax
    over that phase's classes only (FACIL's task-aware accuracy, beside the task-agnostic one)."""
    hits = torch.zeros(len(y), dtype=torch.bool)
    for classes in bounds:
        lo, hi = classes[0], classes[-1] + 1
        members = (y >= lo) & (y < hi)
        if members.any():
            hits[members] = scores[members, lo:hi].argmax(1) + lo == y[members]
    return hits


