"""EEIL's copy-based augmentation (CopiesAugment): each sample becomes one of the official code's
12 copies (original / brightness / contrast, each as is or cropped, each as is or mirrored),
drawn uniformly, photometric copies clipped to the pixel range, crops padded with black."""

import math

import torch

from energybench.data.augment import CopiesAugment, copies_augment
from energybench.data.split import TensorSplit

N = 3000  # samples per check: a binomial(3000, 1/3) count lies within 1000 +- 100 with p > 0.999


def batch(img: torch.Tensor, n: int = N) -> torch.Tensor:
    return img.expand(n, *img.shape).clone()


def aug(**kw) -> CopiesAugment:
    base = dict(crop_pad=0, mirror=False, brightness=(0.0,), contrast=0.0, lo=(-2.0,), hi=(3.0,))
    return CopiesAugment(**{**base, **kw})


IMG = torch.tensor([[[0.0, 0.5, 1.0], [0.2, 0.4, 0.6], [0.9, 0.1, 0.3]]])  # 1 x 3 x 3, inside [lo, hi]


def test_brightness_copies_shift_a_third_of_the_samples_within_range():
    out = aug(brightness=(0.5,))(batch(IMG), torch.Generator().manual_seed(0))
    diff = (out - IMG).flatten(1)
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-6)  # one shift per image
    shift = diff[:, 0]
    assert float(shift.abs().max()) <= 0.5
    shifted = int((shift != 0).sum())
    assert 900 <= shifted <= 1100, shifted


def test_contrast_copies_scale_deviations_from_the_image_mean():
    out = aug(contrast=0.8)(batch(IMG), torch.Generator().manual_seed(1))
    mean = IMG.mean()
    ratio = (out - mean).flatten(1) / (IMG - mean).flatten(1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)  # one factor per image
    factor = ratio[:, 0]
    assert float(factor.min()) >= 0.2 - 1e-6 and float(factor.max()) <= 1.8 + 1e-6
    assert torch.allclose(out.mean(dim=(1, 2, 3)), mean.expand(N), atol=1e-6)  # the mean is kept
    changed = int(((factor - 1).abs() > 1e-6).sum())
    assert 900 <= changed <= 1100, changed


def test_photometric_copies_are_clipped_to_the_pixel_range():
    out = aug(brightness=(100.0,), contrast=0.9, lo=(0.0,), hi=(1.0,))(batch(IMG), torch.Generator().manual_seed(2))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    flat = out.flatten(1)
    saturated = ((flat == 0.0) | (flat == 1.0)).all(1)  # a +-100 shift saturates every pixel
    assert 850 <= int(saturated.sum()) <= 1100  # the brightness third (minus rare tiny shifts)


def test_crops_pad_with_black_and_mirror_half_the_samples():
    img = torch.full((1, 3, 3), 0.5)
    img[0, 1, 2] = 1.0  # marks the right-hand side, so a mirror is visible
    out = aug(crop_pad=1, mirror=True, lo=(-1.0,))(batch(img), torch.Generator().manual_seed(3))
    black = (out == -1.0).flatten(1).any(1)
    # cropped with probability 1/2, and 8 of the 9 offsets of a 1-pixel pad show a black border
    assert abs(int(black.sum()) - N * 4 / 9) < 100, int(black.sum())
    unshifted = out[~black]  # not cropped, or cropped at the centre offset
    right = (unshifted[:, 0, 1, 2] == 1.0).sum()
    left = (unshifted[:, 0, 1, 0] == 1.0).sum()
    assert right + left == len(unshifted)
    assert abs(int(left) - len(unshifted) / 2) < 4 * math.sqrt(len(unshifted) / 4), (int(left), len(unshifted))


def test_without_mirror_no_sample_is_flipped():
    img = torch.zeros(1, 3, 3)
    img[0, :, 2] = 1.0
    out = aug(crop_pad=0, mirror=False, brightness=(0.1,), contrast=0.5)(batch(img), torch.Generator().manual_seed(4))
    assert bool((out[:, 0, :, 2] > out[:, 0, :, 0]).all())


def test_same_seed_same_copies():
    a = aug(crop_pad=1, mirror=True, brightness=(0.3,), contrast=0.8)
    x = torch.rand(64, 1, 5, 5)
    assert torch.equal(a(x, torch.Generator().manual_seed(7)), a(x, torch.Generator().manual_seed(7)))
    assert not torch.equal(a(x, torch.Generator().manual_seed(7)), a(x, torch.Generator().manual_seed(8)))


def test_paper_strengths_in_normalised_units():
    """+-63 of 255 grey levels and the clip bounds, in Fashion-MNIST's normalised units."""
    split = TensorSplit(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), torch.zeros(1), [0.2860], [0.3530], scale=1 / 255)
    a = copies_augment(split, crop_pad=3, mirror=True, brightness=63 / 255, contrast=0.8)
    assert math.isclose(a.brightness[0], 63 / 255 / 0.3530, rel_tol=1e-6)
    assert math.isclose(a.lo[0], -0.2860 / 0.3530, rel_tol=1e-6)
    assert math.isclose(a.hi[0], (1 - 0.2860) / 0.3530, rel_tol=1e-6)
    assert (a.crop_pad, a.mirror, a.contrast) == (3, True, 0.8)
