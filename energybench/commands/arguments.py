"""Argument types the subcommands share: numbers that must be finite, and seeds in the range
every random number generator behind them takes. A refusal (ArgumentTypeError) becomes one
error line naming the option."""

from __future__ import annotations

import argparse
import math

from energybench.config import SEED_MAX


def finite_float(text: str) -> float:
    """A number; NaN and infinity are refused (float() accepts 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{SEED_MAX} (the range numpy and scikit-learn take)")
    return value
