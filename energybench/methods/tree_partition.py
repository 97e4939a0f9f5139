"""Error-driven preview for `tree` (Xiao et al. 2014, section 4.1): the confusion matrix of
the current leaf model, its spectral partition into superclasses, and where new classes go.

Pure numpy/scikit-learn on label arrays, so the partition can be checked on a hand-built
confusion matrix.
"""

from __future__ import annotations

import warnings

import numpy as np

# Added to every off-diagonal affinity so the class graph is connected even when a small
# validation set shows no confusion at all between some classes (spectral clustering of a
# disconnected graph is ill-posed); far below one confusion in a few hundred samples.
AFFINITY_FLOOR = 1e-4


def confusion_rates(true: np.ndarray, probs: np.ndarray, rows: list[int]) -> np.ndarray:
    """C[i, j]: the probability that a held-out sample of class rows[i] is predicted as the
    model's output j (the paper's C_ij), estimated by the mean softmax output over the class's
    samples. One-hot `probs` (argmax predictions) give the row-normalised confusion counts;
    softmax outputs also see near-misses, which matters on small held-out sets where a
    well-trained model makes few outright errors."""
    true, probs = np.asarray(true), np.asarray(probs, dtype=float)
    out = np.zeros((len(rows), probs.shape[1]))
    for i, c in enumerate(rows):
        mask = true == c
        if mask.any():
            out[i] = probs[mask].mean(0)
    return out


def affinity(conf: np.ndarray) -> np.ndarray:
    """Symmetric class similarity from a square confusion matrix: how often two classes are
    mistaken for each other, (C + C^T) / 2, diagonal (correct predictions) dropped."""
    conf = np.asarray(conf, dtype=float)
    w = (conf + conf.T) / 2.0 + AFFINITY_FLOOR
    np.fill_diagonal(w, 0.0)
    return w


def spectral_partition(conf: np.ndarray, k: int, seed: int) -> list[int]:
    """Superclass of each class (0..k'-1, k' <= k, numbered by their smallest class) from
    spectral clustering of the confusion affinity; classes often confused end up together."""
    n = len(conf)
    if n <= k:  # nothing to cluster: every class is its own superclass
        return list(range(n))
    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected" on tiny graphs
        labels = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=seed,
                                    assign_labels="kmeans", n_init=10).fit_predict(affinity(conf))
    renumber: dict[int, int] = {}
    return [renumber.setdefault(int(lab), len(renumber)) for lab in labels]


def assign_new(conf_new: np.ndarray, labels: list[int]) -> list[int]:
    """Superclass for each new class: the one whose old classes it is predicted as most often,
    Phi(c, s) = sum_{j in s} C[c, j] (ties go to the lower-numbered superclass)."""
    k = max(labels) + 1
    member = np.zeros((len(labels), k))
    member[np.arange(len(labels)), labels] = 1.0
    phi = np.asarray(conf_new, dtype=float).reshape(-1, len(labels)) @ member
    return [int(s) for s in phi.argmax(1)]
