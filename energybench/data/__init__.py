"""Offline data sources and class-incremental scenarios."""

from __future__ import annotations

from energybench.data.source import DataSource
from energybench.errors import UserError, unknown_name

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "imagefolder")
# Classes of each fixed dataset, known before it loads (an imagefolder's come from its folders).
NUM_CLASSES = {"digits": 10, "fashion-mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}
IN_SHAPES = {"digits": (1, 8, 8), "fashion-mnist": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32),
             "cifar100": (3, 32, 32)}  # an imagefolder's: (3, image_size, image_size)


def load_source(name: str, root: str | None = None, download: bool = False,
                classes: list[str] | None = None, image_size: int = 224) -> DataSource:
    """Load a dataset by name from local files; nothing is downloaded unless asked."""
    if name == "digits":
        from energybench.data.digits import load_digits
        return load_digits()
    if name in ("fashion-mnist", "mnist"):
        from energybench.data.mnist_like import load_mnist_like
        return load_mnist_like(name, root)
    if name in ("cifar10", "cifar100"):
        from energybench.data.torchvision_sources import load_cifar
        return load_cifar(name, root, download)
    if name == "imagefolder":
        from energybench.data.torchvision_sources import load_imagefolder
        return load_imagefolder(root, classes, image_size)
    raise UserError(unknown_name("dataset", name, DATASETS))


__all__ = ["DATASETS", "IN_SHAPES", "NUM_CLASSES", "DataSource", "load_source"]
