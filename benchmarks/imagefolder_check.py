"""What checking every image of an imagefolder dataset at load time costs, per file.

An unreadable file (zero bytes, not an image, a format PIL cannot identify) must stop a run
before training, not hours into it. Four ways to look at each file, timed on one generated
folder of JPEGs (ImageNet-like: 375x500 photos-ish, quality 90) in one run:

  list     listing only (what torchvision's ImageFolder does anyway)
  header   PIL.Image.open: reads and identifies the header
  verify   Image.open + verify(): header and, where the format allows, its structure
  decode   Image.open + load(): the full decode, as training does

The folder is written to a temporary directory and read back once before timing, so every
method reads from the page cache (a cold disk adds the same seek per file to each).

    python benchmarks/imagefolder_check.py [--files 3000] [--size 375x500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, files: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    h, w = size
    # Smooth gradients plus noise compress like photographs (about 30-60 KB at 375x500).
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(files):
        base = (np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1)
                + rng.normal(0, 12, (h, w, 3)) + rng.integers(0, 60))
        path = root / f"class{i % 10}" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def header(path: Path) -> None:
    with Image.open(path):
        pass


def verify(path: Path) -> None:
    with Image.open(path) as im:
        im.verify()


def decode(path: Path) -> None:
    with Image.open(path) as im:
        im.load()


def listing(root: Path) -> int:
    return sum(len(os.listdir(d)) for d in root.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="JPEG files to generate (default 3000)")
    parser.add_argument("--size", default="375x500", help="HxW of each image (default 375x500)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_folder(root, args.files, size)
        mean_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        for p in paths:  # warm the page cache
            p.read_bytes()
        times = {}
        t0 = time.perf_counter()
        listing(root)
        times["list"] = time.perf_counter() - t0
        for name, fn in (("header", header), ("verify", verify), ("decode", decode)):
            t0 = time.perf_counter()
            for p in paths:
                fn(p)
            times[name] = time.perf_counter() - t0
    print(f"{args.files} JPEG files of {size[0]}x{size[1]}, {mean_kb:.0f} KB on average, page cache warm")
    for name, seconds in times.items():
        print(f"  {name:<7} {seconds:8.3f} s   {1e6 * seconds / args.files:9.1f} us per file")
    print(f"verify / decode: {times['verify'] / times['decode']:.3f}; "
          f"verify costs {times['verify'] / args.files * 1.28e6 / 60:.1f} min for ImageNet's 1.28M training files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
