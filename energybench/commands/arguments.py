"""Argument types the subcommands share: numbers that must be finite, whole numbers in a stated
range, seeds in the range every random number generator behind them takes, and paths that are not empty. A refusal
(ArgumentTypeError) becomes one error line naming the option, the value and what is valid."""

from __future__ import annotations

import argparse
import decimal
import math
import os
from pathlib import Path

from energybench.config import SEED_MAX
from energybench.errors import UserError


def finite_float(text: str) -> float:
    """A number; NaN and infinity are refused (float() accepts 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


NODE_CHOICE = "one of the technology nodes 90, 65, 45, 32, 22, 16, 14, 10, 7"


def whole(low: int, high: int | None = None, valid: str | None = None):
    """An argument type: a whole number, refused with the range that is valid (argparse's `int`
    says only "invalid int value: 'inf'"). The range itself is checked by config.validate, which
    names the config key, so a YAML file and a flag get the same message."""
    valid = valid or f"a whole number from {low:,}" + (f" to {high:,}" if high is not None else " up")

    def convert(text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            pass
        try:  # 1e6 is a whole number too (as --seed 1e3 is): exactly, never through a float
            number = decimal.Decimal(text.strip())
            if number.is_finite() and number.adjusted() < 19 and number == number.to_integral_value():
                return int(number)
        except decimal.InvalidOperation:
            pass
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}; give {valid}") from None

    convert.__name__ = "int"
    return convert


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{SEED_MAX} (the range numpy and scikit-learn take)")
    return value


def given_path(text: str) -> Path:
    """A file or folder path; an empty one is refused (Path("") is ".", which would quietly mean
    the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"is empty ({text!r}); give a path")
    return Path(text)


def check_output(flag: str, path: Path, example: str, folder: bool = False) -> None:
    """An output a command writes (a file, or with `folder` a folder of files), checked before the
    work: its parent folder must exist and be writable. A mistyped path is said, not made: only a
    run's or a report's --out DIR is created where missing."""
    path = Path(path)  # (as the writers take it: a quoted '~' is no home folder to them either)
    if not folder and path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name such as {path / example}")
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder to write into")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} {path} is not writable")
