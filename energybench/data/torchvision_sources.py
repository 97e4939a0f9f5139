"""CIFAR-10/100 and ImageNet-style folders through torchvision, from a user directory."""

from __future__ import annotations

from pathlib import Path

import torch

from energybench.data.source import DataSource
from energybench.data.split import FileSplit, TensorSplit
from energybench.errors import UserError, unknown_name

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
    from torchvision.datasets.folder import IMG_EXTENSIONS

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
    try:  # empty class folders are allowed here, and refused below only if the run uses them
        folders = {p: datasets.ImageFolder(str(base / p), allow_empty=True) for p in ("train", "val")}
    except FileNotFoundError:
        raise UserError(f"imagefolder: no class folders in {base / 'train'} or {base / 'val'}; expected "
                        f"{base}/train/<class>/*.jpg and {base}/val/<class>/*.jpg") from None
    names = folders["train"].classes
    if classes:
        unknown = sorted(set(classes) - set(names))
        if unknown:
            where = f"classes in {base / 'train'}"
            raise UserError(f"imagefolder: {unknown_name('class', unknown[0], names, where)}")
        names = [c for c in names if c in set(classes)]
    index = {c: i for i, c in enumerate(names)}

    def split(part: str, ds) -> FileSplit:
        kept = [(p, index[ds.classes[t]]) for p, t in ds.samples if ds.classes[t] in index]
        empty = sorted(set(names) - {ds.classes[t] for _, t in ds.samples})
        if empty:
            folder = base / part / empty[0]
            if not folder.is_dir():
                raise UserError(f"imagefolder: {folder} does not exist; every class of {base / 'train'} needs a "
                                f"folder of validation images in {base / part} too"
                                + (f" ({len(empty)} classes have none)" if len(empty) > 1 else ""))
            raise UserError(f"imagefolder: {folder} holds no image files "
                            f"({', '.join(IMG_EXTENSIONS)}); every class needs training and validation images"
                            + (f" ({len(empty)} classes have none)" if len(empty) > 1 else ""))
        check_images([p for p, _ in kept])
        return FileSplit([p for p, _ in kept], torch.tensor([t for _, t in kept]), lambda path: tf(_open(ds, path)),
                         *IMAGENET_STATS)

    return DataSource("imagefolder", (3, image_size, image_size), names, split("train", folders["train"]),
                      split("val", folders["val"]), str(base.resolve()))


def check_images(paths: list[str]) -> None:
    """Every file opens as an image: PIL reads its header and verifies what the format allows
    (31 us per JPEG: 0.1 s per 3,000 files, benchmarks/imagefolder_check.py; a full decode costs
    36x that). An empty or non-image file is found now, not hours into training."""
    from PIL import Image

    bad = []
    for path in paths:
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... per format
            bad.append((path, "empty file" if Path(path).stat().st_size == 0 else str(exc).splitlines()[0]))
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(f"imagefolder: {bad[0][0]} is not a readable image ({bad[0][1]}){more}; remove or replace "
                        "such files")


def _open(ds, path: str):
    """A file that passed check_images can still be truncated past its header: say which."""
    try:
        return ds.loader(path)
    except OSError as exc:
        raise UserError(f"imagefolder: cannot decode {path} ({exc}); remove or replace it and continue the run "
                        "with --resume") from None
