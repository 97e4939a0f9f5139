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
    labels = []
    for i in range(0, len(idx), EVAL_BATCH):
        x, y = take(scenario, "test", idx[i:i + EVAL_BATCH])
        x = x.to(device)
        key = ("eval", method.name, id(method), phase.index, tuple(x.shape))
        scores = trainer.count_eval(key, lambda: method.predict(x), method.net)
        for name, s in scores.items():
            preds.setdefault(name, []).append(s.argmax(1).cpu())
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
    return EvalResult(acc, acc_old, acc_new, group_acc, confusion)


def forgetting(history: list[list[float]]) -> float:
    """Average forgetting (Chaudhry et al. 2018): for each earlier phase's classes, the best
    accuracy they ever had minus their accuracy now, averaged; NaN at phase 0."""
    if len(history) < 2:
        return float("nan")
    now = history[-1]
    drops = [max(h[g] for h in history[:-1] if g < len(h)) - now[g] for g in range(len(now) - 1)]
    return float(np.mean(drops))
