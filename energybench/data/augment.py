"""Batch-level data augmentation (random crop with padding, mirror, brightness, contrast).

Applied to normalised batches on the training device; a generator makes it seeded.
`Augment` applies every configured transform to every sample; `CopiesAugment` draws, per
sample, one of the fixed set of copies that EEIL's official code builds (see its docstring).
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


@dataclass(frozen=True)
class CopiesAugment:
    """EEIL's augmentation (Castro et al. 2018, Sec. 5), as its official MatConvNet code builds it
    (`incremental_training.m`): every training image becomes 12 copies: the original, a
    brightness copy (+U(-b, b)) and a contrast copy ((x - channel mean) * U(1-c, 1+c) + mean),
    both clipped to the pixel range; each of the three as is and randomly cropped (zero-padded,
    i.e. black, by `crop_pad`); each of those six as is and mirrored. The official code stores
    the copies and sweeps all 12 per epoch; here each sample of a batch becomes one of its copies,
    drawn uniformly (photometric kind 1/3 each, crop 1/2, mirror 1/2): the same distribution,
    with one epoch sweeping each image once (12 epochs here see what one of the paper's does).

    `brightness` is in normalised units per channel; `lo`/`hi` are the pixel range [0, 1] in
    normalised units per channel (the clip bounds, and `lo` is black, the padding value).
    Without `mirror` (digits, characters) there are 6 copies.
    """

    crop_pad: int
    mirror: bool
    brightness: tuple[float, ...]  # per channel, normalised units
    contrast: float
    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c = x.shape[:2]
        # Every random number is drawn for every sample, so the stream does not depend on the draws.
        kind = torch.randint(0, 3, (n,), generator=gen).to(x.device).view(n, 1, 1, 1)
        crop = (torch.rand(n, generator=gen) < 0.5).to(x.device).view(n, 1, 1, 1)
        flip = (torch.rand(n, generator=gen) < 0.5).to(x.device).view(n, 1, 1, 1)
        shift = (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1).to(x.device)
        scale = (1 + self.contrast * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)).to(x.device)
        offs = torch.randint(0, 2 * self.crop_pad + 1, (n, 2), generator=gen).tolist()
        lo = torch.tensor(self.lo, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
        hi = torch.tensor(self.hi, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
        b = torch.tensor(self.brightness, dtype=x.dtype, device=x.device).view(1, c, 1, 1)

        def clip(t: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(t, lo), hi)

        mean = x.mean(dim=(2, 3), keepdim=True)
        x = torch.where(kind == 1, clip(x + shift * b), torch.where(kind == 2, clip((x - mean) * scale + mean), x))
        if self.crop_pad:
            p = self.crop_pad
            padded = F.pad(x - lo, (p, p, p, p)) + lo  # black borders, as padarray on raw pixels
            h, w = x.shape[2:]
            cropped = torch.stack([padded[i, :, a:a + h, b_:b_ + w] for i, (a, b_) in enumerate(offs)])
            x = torch.where(crop, cropped, x)
        if self.mirror:
            x = torch.where(flip, x.flip(3), x)
        return x


def copies_augment(split, crop_pad: int, mirror: bool, brightness: float, contrast: float) -> CopiesAugment:
    """A CopiesAugment for a split: `brightness` is a fraction of the pixel range (the paper's
    +-63 of 255 is 63/255), converted to each channel's normalised units."""
    mean, std = split.normalisation()
    return CopiesAugment(crop_pad=crop_pad, mirror=mirror, brightness=tuple(brightness / s for s in std),
                         contrast=contrast, lo=tuple(-m / s for m, s in zip(mean, std)),
                         hi=tuple((1 - m) / s for m, s in zip(mean, std)))
