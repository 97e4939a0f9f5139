"""scikit-learn's bundled 8x8 digits: the offline default (1,797 images, 10 classes).

The file is read where scikit-learn installed it, and split as its `train_test_split(...,
stratify=y)` splits it, without importing scikit-learn: its import (about 1 s, with SciPy) was a
fixed cost of every digits run before the first phase. tests/data/test_digits.py holds both
against scikit-learn's own functions.
"""

from __future__ import annotations

import gzip
import importlib.util
from math import ceil
from pathlib import Path

import numpy as np
import torch

from energybench.data.source import DataSource
from energybench.data.split import TensorSplit

SPLIT_SEED = 0  # fixed, so every run sees the same train/test split
TEST_FRACTION = 0.3


def load_digits() -> DataSource:
    images, target = _bundled_digits()
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1)  # values 0..16
    y = torch.tensor(target)
    idx_train, idx_test = stratified_split(target, TEST_FRACTION, SPLIT_SEED)
    idx_train, idx_test = torch.as_tensor(idx_train), torch.as_tensor(idx_test)
    train_x = x[idx_train]  # normalisation statistics from the training split only
    mean, std = [train_x.mean().item() / 16], [train_x.std().item() / 16]
    split = lambda idx: TensorSplit(x[idx], y[idx], mean, std, scale=1 / 16)  # noqa: E731
    return DataSource("digits", (1, 8, 8), [str(i) for i in range(10)], split(idx_train), split(idx_test),
                      "scikit-learn bundled digits")


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images N x 8 x 8 float64, labels N) from scikit-learn's digits.csv.gz, as its load_digits reads it."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "digits.csv.gz") if spec else None
    if path is None or not path.is_file():  # a layout this does not know: scikit-learn's own loader
        from sklearn.datasets import load_digits as sk_digits

        bunch = sk_digits()
        return bunch.images, bunch.target
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) exactly as scikit-learn's StratifiedShuffleSplit draws its
    first split (what `train_test_split(range(n), test_size=test_fraction, random_state=seed,
    stratify=labels)` returns): per class, a share of the samples proportional to its size, ties in
    rounding broken at random, then both lists shuffled; every draw from one RandomState(seed), in
    scikit-learn's order."""
    n = len(labels)
    n_test = ceil(test_fraction * n)
    n_train = n - n_test
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for members, k_train, k_test in zip(by_class, n_i, t_i):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        train.extend(shuffled[:k_train])
        test.extend(shuffled[k_train:k_train + k_test])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` samples each class gives: the floor of its proportional share, and the
    draws left over to the largest remainders, ties chosen at random (scikit-learn's _approximate_mode)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    left = int(draws - floored.sum())
    remainder = continuous - floored
    for value in np.sort(np.unique(remainder))[::-1]:
        if left <= 0:
            break
        (tied,) = np.where(remainder == value)
        take = min(len(tied), left)
        floored[rng.choice(tied, size=take, replace=False)] += 1
        left -= take
    return floored.astype(int)
