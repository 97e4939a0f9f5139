"""CIFAR-10/100 and ImageNet-style folders through torchvision, from a user directory."""

from __future__ import annotations

from pathlib import Path

import torch

from energybench.data.source import DataSource
from energybench.data.split import FileSplit, TensorSplit
from energybench.errors import UserError

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def load_cifar(name: str, root: str | None, download: bool) -> DataSource:
    from torchvision import datasets

    if root is None:
        raise UserError(f"{name} needs --data-root DIR (the folder that holds or will hold "
                        f"{'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'}); "
                        "add --download to fetch it there once")
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        parts = {p: cls(root, train=(p == "train"), download=download) for p in ("train", "test")}
    except RuntimeError as exc:
        raise UserError(f"{name} not found or corrupt under {Path(root).resolve()} ({exc}); "
                        "place the extracted python-version archive there or add --download") from None
    mean, std = CIFAR_STATS[name]
    splits = {
        p: TensorSplit(torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets),
                       mean, std, scale=1 / 255)
        for p, ds in parts.items()
    }
    return DataSource(name, (3, 32, 32), list(parts["train"].classes), splits["train"], splits["test"],
                      str(Path(root).resolve()))


def load_imagefolder(root: str | None, classes: list[str] | None, image_size: int) -> DataSource:
    from torchvision import datasets, transforms

    if root is None:
        raise UserError("imagefolder needs --data-root DIR with train/ and val/ subfolders, "
                        "one folder per class inside each (ImageNet layout)")
    base = Path(root)
    for part in ("train", "val"):
        if not (base / part).is_dir():
            raise UserError(f"imagefolder: {base / part} is not a directory; expected {base}/train/<class>/*.jpg "
                            f"and {base}/val/<class>/*.jpg")
    tf = transforms.Compose([
        transforms.Resize(image_size * 8 // 7), transforms.CenterCrop(image_size), transforms.ToTensor(),
        transforms.Normalize(*IMAGENET_STATS),
    ])
    folders = {p: datasets.ImageFolder(str(base / p)) for p in ("train", "val")}
    names = folders["train"].classes
    if classes:
        unknown = sorted(set(classes) - set(names))
        if unknown:
            raise UserError(f"imagefolder: classes not found in {base / 'train'}: {', '.join(unknown[:10])}")
        names = [c for c in names if c in set(classes)]
    index = {c: i for i, c in enumerate(names)}

    def split(ds) -> FileSplit:
        kept = [(p, index[ds.classes[t]]) for p, t in ds.samples if ds.classes[t] in index]
        return FileSplit([p for p, _ in kept], torch.tensor([t for _, t in kept]),
                         lambda path: tf(ds.loader(path)), *IMAGENET_STATS)

    return DataSource("imagefolder", (3, image_size, image_size), names, split(folders["train"]),
                      split(folders["val"]), str(base.resolve()))
