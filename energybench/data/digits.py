"""scikit-learn's bundled 8x8 digits: the offline default (1,797 images, 10 classes)."""

from __future__ import annotations

import torch

from energybench.data.source import DataSource
from energybench.data.split import TensorSplit

SPLIT_SEED = 0  # fixed, so every run sees the same train/test split
TEST_FRACTION = 0.3


def load_digits() -> DataSource:
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1)  # values 0..16
    y = torch.tensor(bunch.target)
    idx_train, idx_test = train_test_split(
        range(len(y)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    train_x = x[idx_train]  # normalisation statistics from the training split only
    mean, std = [train_x.mean().item() / 16], [train_x.std().item() / 16]
    split = lambda idx: TensorSplit(x[idx], y[idx], mean, std, scale=1 / 16)  # noqa: E731
    return DataSource("digits", (1, 8, 8), [str(i) for i in range(10)], split(idx_train), split(idx_test),
                      "scikit-learn bundled digits")
