"""A Split is one labelled set of samples that can hand out batches by index."""

from __future__ import annotations

from typing import Callable, Sequence

import torch


class TensorSplit:
    """Samples held in memory; `take` normalises on the fly so raw storage can stay uint8."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 scale: float = 1.0):
        self.x, self.y = x, y.long()
        c = x.shape[1]
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1)
        self._scale = scale

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[idx].float() * self._scale
        return (x - self._mean) / self._std, self.y[idx]

    def normalisation(self) -> tuple[list[float], list[float]]:
        """Per-channel (mean, std) of the pixel range [0, 1] that `take` subtracts and divides by."""
        return self._mean.flatten().tolist(), self._std.flatten().tolist()


class FileSplit:
    """Samples read from image files on demand (ImageNet-style folders)."""

    def __init__(self, paths: list[str], y: torch.Tensor, load: Callable[[str], torch.Tensor],
                 mean: Sequence[float], std: Sequence[float]):
        self.paths, self.y, self._load = paths, y.long(), load
        self._norm = (list(mean), list(std))  # what `load` normalises by (pixels in [0, 1])

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack([self._load(self.paths[i]) for i in idx.tolist()]), self.y[idx]

    def normalisation(self) -> tuple[list[float], list[float]]:
        """Per-channel (mean, std) of the pixel range [0, 1] that `load` normalises by."""
        return self._norm
