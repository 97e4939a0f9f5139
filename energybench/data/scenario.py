"""Class-incremental scenarios: class order, base + increments, per-phase index sets.

Labels are remapped to positions in the class order, so the classes of phase p are the
contiguous range [start_p, end_p) and a head grown phase by phase lines up with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch

from energybench.data.source import DataSource
from energybench.errors import UserError, shown

_NOTATION = re.compile(r"^B(\d+)((?:-\d+(?:x\d+)?)*)$")
MAX_CLASSES = 1_000_000  # more than any dataset has (ImageNet-21k: 21,841)
# The field's standard class order: PyCIL and iCaRL shuffle with np.random.seed(1993);
# np.random.permutation(n), and FACIL ships the same order for CIFAR-100 as `cifar100_icarl`.
PYCIL_SEED = 1993
CLASS_ORDERS = ("seeded", "natural", "pycil")
# The common splits (B<base>-<step>x<phases>; B0: the first phase is one step like the others)
# and the published results each one matches (README, "Standard protocols"): PyCIL's README
# "Reproduced Results" (CIFAR-100 panels), FACIL's scripts/script_cifar100.sh, iCaRL (Rebuffi et
# al. 2017) Fig. 2 and LUCIR (Hou et al. 2019) Fig. 5.
PRESETS = {
    "B0-10x10": "PyCIL README, CIFAR-100 B0 10 steps; FACIL cifar100_icarl --num-tasks 10; iCaRL Fig. 2, 10 classes "
                "per batch",
    "B0-20x5": "PyCIL README, CIFAR-100 B0 5 steps; iCaRL Fig. 2, 20 classes per batch",
    "B0-5x20": "FACIL cifar100_icarl --num-tasks 20; iCaRL Fig. 2, 5 classes per batch",
    "B50-10x5": "PyCIL README, CIFAR-100 B50 5 steps; LUCIR Fig. 5(c), CIFAR-100 5 phases",
    "B50-5x10": "LUCIR Fig. 5(d), CIFAR-100 10 phases",
}


def pycil_order(num_classes: int) -> list[int]:
    """np.random.seed(1993); np.random.permutation(num_classes), without touching numpy's global state."""
    return np.random.RandomState(PYCIL_SEED).permutation(num_classes).tolist()


def parse_split(spec: str | list[int], num_classes: int | None = None, dataset: str = "") -> list[int]:
    """`B4-3x2` -> [4, 3, 3]; `B50-10-20-20` -> [50, 10, 20, 20]; a list is taken as is.

    A split covering more than `num_classes` (default MAX_CLASSES) classes is refused before its
    list is built: `B4-3x99999999999` would otherwise fill the memory."""
    limit = MAX_CLASSES if num_classes is None else num_classes
    if isinstance(spec, (list, tuple)):
        sizes = list(spec)
    else:
        text = str(spec).strip()
        if re.fullmatch(r"\d+(\s*,\s*\d+)*", text):
            sizes = [int(t) for t in text.split(",")]
        else:
            m = _NOTATION.match(text.upper().replace("X", "x"))  # b0-10X10 as B0-10x10
            if not m:
                raise UserError(
                    f"cannot read scenario {shown(spec)}: use B<base>-<step>x<phases> (e.g. B4-3x2), "
                    "B<base>-<n>-<n>... (e.g. B50-10-20-20) or a list of class counts (e.g. 50,10,20,20)"
                )
            base = int(m.group(1))
            # B0-10x10: no separate base phase (PyCIL's notation), so the first step is phase 0
            parts = [(base, 1)] * (base > 0 or not m.group(2)) + [(int(step), int(times or 1)) for step, _, times in
                                              (p.partition("x") for p in filter(None, m.group(2).split("-")))]
            if any(step == 0 for step, times in parts if times):
                raise UserError(f"scenario {shown(spec)}: every phase needs a positive number of classes")
            _check_total(spec, sum(step * times for step, times in parts), limit, num_classes, dataset, parts)
            sizes = [step for step, times in parts for _ in range(times)]
    if not sizes or any(not isinstance(n, int) or isinstance(n, bool) or n <= 0 for n in sizes):
        raise UserError(f"scenario {shown(spec)}: every phase needs a positive number of classes, got {shown(sizes)}")
    _check_total(spec, sum(sizes), limit, num_classes, dataset)
    return sizes


def _check_total(spec, total: int, limit: int, num_classes: int | None, dataset: str,
                 parts: list[tuple[int, int]] | None = None) -> None:
    if total > limit:
        has = f"{dataset} has only {limit}" if num_classes is not None else f"no dataset has more than {limit:,}"
        raise UserError(f"scenario {shown(spec)} covers {total} classes but {has}"
                        + (_scaled(parts, total, limit, dataset) if num_classes is not None and parts else ""))


def _scaled(parts: list[tuple[int, int]], total: int, classes: int, dataset: str) -> str:
    """'; the same split of the 10 classes of digits: B5-1x5', where every phase scales to whole classes."""
    steps = [(step * classes, times) for step, times in parts]
    if any(n % total or n == 0 for n, times in steps if times) or not parts:
        return ""
    (base, one), *rest = [(n // total, times) for n, times in steps]
    body = "".join(f"-{n}" + (f"x{times}" if times > 1 else "") for n, times in rest if times)
    name = f"B{base}{body}" if one == 1 and rest else f"B0-{base}x{one}"
    return f"; the same split of the {classes} classes of {dataset}: {name}"


@dataclass
class Phase:
    index: int
    classes: list[int]  # remapped labels learned in this phase
    seen: int  # number of classes seen after this phase
    train_idx: torch.Tensor  # indices into source.train, new classes only
    test_idx: torch.Tensor  # indices into source.test, all classes seen so far

    @property
    def first_class(self) -> int:
        return self.classes[0]

    @property
    def old_classes(self) -> int:
        return self.classes[0]


@dataclass
class Scenario:
    source: DataSource
    sizes: list[int]
    class_order: list[int]  # class_order[k] = original label of remapped class k
    phases: list[Phase] = field(default_factory=list)
    train_y: torch.Tensor = None  # remapped labels (-1 for classes outside the scenario)
    test_y: torch.Tensor = None

    @property
    def num_classes(self) -> int:
        return sum(self.sizes)

    @property
    def class_names(self) -> list[str]:
        return [self.source.class_names[c] for c in self.class_order]

    def train_indices(self, upto: int, start: int = 0) -> torch.Tensor:
        """Training indices of the classes of phases start..upto (inclusive)."""
        return torch.cat([p.train_idx for p in self.phases[start: upto + 1]])


def _order(num_classes: int, total: int, order, seed: int) -> list[int]:
    if order is None or order == "seeded":
        g = torch.Generator().manual_seed(seed)
        return torch.randperm(num_classes, generator=g)[:total].tolist()
    if order == "natural":
        return list(range(total))
    if order == "pycil":  # over all the dataset's classes, as PyCIL draws it; a shorter scenario takes the first
        return pycil_order(num_classes)[:total]
    if isinstance(order, str):
        raise UserError(f"class_order must be 'seeded', 'natural', 'pycil' or a list of class indices, "
                        f"got {shown(order)}")
    order = [int(c) for c in order]
    if len(order) != total:
        raise UserError(f"class_order lists {len(order)} classes but the scenario covers {total}")
    if len(set(order)) != len(order):
        twice = sorted({c for c in order if order.count(c) > 1})
        raise UserError(f"class_order repeats class{'es' if len(twice) > 1 else ''} {', '.join(map(str, twice))}; "
                        "each class appears once")
    bad = [c for c in order if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"class_order has classes outside 0..{num_classes - 1}: {shown(bad)}")
    return order


def _cap(idx: torch.Tensor, labels: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Keep at most `per_class` samples of each class (a fixed, seeded choice)."""
    if per_class is None:
        return idx
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in labels[idx].unique().tolist():
        members = idx[labels[idx] == c]
        keep.append(members[torch.randperm(len(members), generator=g)[:per_class]].sort().values)
    return torch.cat(keep).sort().values


def build_scenario(source: DataSource, spec, class_order=None, seed: int = 0,
                   train_per_class: int | None = None, test_per_class: int | None = None) -> Scenario:
    sizes = parse_split(spec, source.num_classes, source.name)
    total = sum(sizes)
    if total > source.num_classes:
        raise UserError(f"scenario {shown(spec)} covers {total} classes but {source.name} has only "
                        f"{source.num_classes}")
    order = _order(source.num_classes, total, class_order, seed)
    remap = torch.full((source.num_classes,), -1, dtype=torch.long)
    remap[torch.tensor(order)] = torch.arange(total)
    train_y, test_y = remap[source.train.y], remap[source.test.y]
    train_all = _cap(torch.nonzero(train_y >= 0).flatten(), train_y, train_per_class, seed=1)
    test_all = _cap(torch.nonzero(test_y >= 0).flatten(), test_y, test_per_class, seed=2)
    for name, idx, y in (("training", train_all, train_y), ("test", test_all, test_y)):
        empty = sorted(set(range(total)) - set(y[idx].unique().tolist()))
        if empty:
            raise UserError(f"{source.name} has no {name} samples for classes {[order[c] for c in empty]}")
    scenario = Scenario(source, sizes, order, train_y=train_y, test_y=test_y)
    start = 0
    for p, n in enumerate(sizes):
        end = start + n
        in_phase = (train_y[train_all] >= start) & (train_y[train_all] < end)
        seen = test_y[test_all] < end
        scenario.phases.append(Phase(p, list(range(start, end)), end, train_all[in_phase], test_all[seen]))
        start = end
    return scenario


def take(scenario: Scenario, part: str, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of inputs with labels remapped to class-order positions."""
    split = scenario.source.train if part == "train" else scenario.source.test
    x, _ = split.take(idx)
    # Networks keep their convolution weights channels-last (models.build_net); inputs in the
    # same layout spare every convolution a conversion.
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, (scenario.train_y if part == "train" else scenario.test_y)[idx]
