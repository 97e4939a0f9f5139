"""MNIST and Fashion-MNIST from their four gzipped IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from energybench.data.idx import read_idx
from energybench.data.source import DataSource
from energybench.data.split import TensorSplit
from energybench.errors import UserError

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEFAULT_ROOTS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
HOW_TO_GET = {
    "fashion-mnist": "install Debian's package (apt-get install dataset-fashion-mnist) or pass --data-root "
                     "DIR holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                     "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz",
    "mnist": "pass --data-root DIR holding the four MNIST files train-images-idx3-ubyte.gz, "
             "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz",
}
# Per-dataset normalisation (pixel mean/std of the training set).
STATS = {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}


def load_mnist_like(name: str, root: str | None) -> DataSource:
    base = Path(root or DEFAULT_ROOTS[name])
    names = FASHION_CLASSES if name == "fashion-mnist" else [str(i) for i in range(10)]
    splits = {}
    for part, (img_file, lbl_file) in FILES.items():
        paths = [base / img_file, base / lbl_file]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"{name} not found: looked for {', '.join(missing)}; to get it, {HOW_TO_GET[name]}")
        images, labels = (read_idx(p) for p in paths)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError(f"{name} files in {base} disagree: images {images.shape}, labels {labels.shape}")
        outside = ~np.isin(labels, np.arange(len(names)))  # also NaN or 2.5 in a float label file
        if outside.any():  # would index past the class list mid-run
            raise UserError(f"{name} labels in {paths[1]} must be 0..{len(names) - 1} ({len(names)} classes); "
                            f"{int(outside.sum())} are not, the first {labels[outside][0]:g} at position "
                            f"{int(outside.argmax())}")
        mean, std = STATS[name]
        splits[part] = TensorSplit(torch.from_numpy(images.copy()).unsqueeze(1),
                                   torch.from_numpy(labels.astype("int64")),
                                   [mean], [std], scale=1 / 255)
    h, w = splits["train"].x.shape[2:]
    return DataSource(name, (1, h, w), names, splits["train"], splits["test"], str(base))
