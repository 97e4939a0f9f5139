"""Batch-level data augmentation (random crop with padding, mirror, brightness, contrast).

Applied to normalised batches on the training device; a generator makes it seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    crop_pad: int = 0  # pixels of zero padding before a random crop back to size
    mirror: bool = False  # horizontal flip with probability 1/2
    brightness: float = 0.0  # add U(-b, b) (in normalised units) per image
    contrast: float = 0.0  # scale deviations from the image mean by U(1-c, 1+c)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        rand = lambda *s: torch.rand(*s, generator=gen).to(x.device)  # noqa: E731
        if self.crop_pad:
            p = self.crop_pad
            padded = F.pad(x, (p, p, p, p))
            offs = torch.randint(0, 2 * p + 1, (n, 2), generator=gen).tolist()
            h, w = x.shape[2:]
            x = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(offs)])
        if self.mirror:
            flip = rand(n) < 0.5
            x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
        if self.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * (1 + self.contrast * (2 * rand(n, 1, 1, 1) - 1)) + mean
        if self.brightness:
            x = x + self.brightness * (2 * rand(n, 1, 1, 1) - 1)
        return x


def default_augment(dataset: str, in_shape: tuple[int, int, int]) -> Augment:
    """Sensible defaults: no mirror for digits/characters (a flipped 2 is not a 2); crop
    padding of 1/8 of the side (4 px at 32x32, the CIFAR convention)."""
    side = in_shape[1]
    mirror = dataset in ("cifar10", "cifar100", "imagefolder", "fashion-mnist")
    return Augment(crop_pad=max(1, side // 8), mirror=mirror, brightness=0.0, contrast=0.0)
