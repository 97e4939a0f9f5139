"""DataSource: what every dataset loader returns."""

from __future__ import annotations

from dataclasses import dataclass

from energybench.data.split import FileSplit, TensorSplit


@dataclass
class DataSource:
    name: str
    in_shape: tuple[int, int, int]
    class_names: list[str]
    train: TensorSplit | FileSplit
    test: TensorSplit | FileSplit
    location: str  # where it was read from, for the manifest

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
