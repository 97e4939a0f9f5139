"""The digits source reads scikit-learn's file and splits it without importing scikit-learn,
to the same images, labels and split as scikit-learn's own functions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from energybench.data.digits import SPLIT_SEED, TEST_FRACTION, _bundled_digits, load_digits, stratified_split


def test_the_bundled_file_reads_as_scikit_learns_loader_reads_it():
    from sklearn.datasets import load_digits as sk_digits

    images, target = _bundled_digits()
    bunch = sk_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float64
    assert np.array_equal(images, bunch.images) and np.array_equal(target, bunch.target)
    assert target.dtype == bunch.target.dtype


@pytest.mark.parametrize("labels, fraction, seed", [
    ("digits", TEST_FRACTION, SPLIT_SEED),
    ("digits", 0.25, 3),
    (np.repeat([0, 1, 2, 3, 4, 5, 6], [5, 5, 5, 5, 5, 5, 4]), 0.3, 0),  # remainders tie: rng.choice breaks them
    (np.array(list("abcabcabcaab")), 0.5, 7),  # string labels, classes of unequal size
])
def test_the_split_is_scikit_learns_stratified_split(labels, fraction, seed):
    from sklearn.model_selection import train_test_split

    labels = _bundled_digits()[1] if isinstance(labels, str) else labels
    expected_train, expected_test = train_test_split(range(len(labels)), test_size=fraction, random_state=seed,
                                                     stratify=labels)
    train, test = stratified_split(labels, fraction, seed)
    assert train.tolist() == expected_train and test.tolist() == expected_test


def test_the_source_holds_the_split_scikit_learn_gives():
    from sklearn.model_selection import train_test_split

    source = load_digits()
    digits, target = _bundled_digits()
    expected_train, expected_test = train_test_split(range(len(target)), test_size=TEST_FRACTION,
                                                     random_state=SPLIT_SEED, stratify=target)
    assert (len(source.train), len(source.test)) == (1257, 540)
    assert torch.equal(source.train.y, torch.tensor(target[expected_train]))
    assert torch.equal(source.test.y, torch.tensor(target[expected_test]))
    images = torch.tensor(digits, dtype=torch.float32).unsqueeze(1)
    assert torch.equal(source.train.x, images[expected_train]) and torch.equal(source.test.x, images[expected_test])
    mean, std = source.train.normalisation()  # of the 1,257 training images' pixels, 0..16 scaled to 0..1
    assert mean == pytest.approx([4.8888721 / 16], abs=1e-6) and std == pytest.approx([6.0180287 / 16], abs=1e-6)


def test_loading_digits_does_not_import_scikit_learn():
    code = ("import sys; from energybench.data.digits import load_digits; s = load_digits(); "
            "print(len(s.train), 'sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1257", "False", "False"]
