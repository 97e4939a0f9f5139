"""Typed method options: each method declares its options once, with their defaults and what
is valid, and every value from a config is checked (and converted) before any cell runs.

    options = {"T": number(2.0, gt=0), "K": integer(2, ge=1), "ce": choice("all", "new"),
               "imprint": flag(True), "crop_pad": integer(None, ge=0, optional=True)}

A bad value stops the run with one message that names the method, the option, the value and
what is allowed. Numbers must be finite: NaN or infinity never trains silently to chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from energybench.errors import UserError, did_you_mean


@dataclass(frozen=True)
class Option:
    default: Any
    what: str  # what is valid, in words: "a number > 0", "one of all, new"
    convert: Callable[[Any], Any]  # raises ValueError when the value is not valid
    optional: bool = False  # null (None) allowed

    def check(self, method: str, key: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            extra = " (or null)" if self.optional else ""
            raise UserError(f"option '{key}' of method {method} must be {self.what}{extra}, got {value!r}") from None


def _bounds(gt=None, ge=None, lt=None, le=None) -> tuple[str, Callable[[float], bool]]:
    parts, tests = [], []
    for op, bound, test in ((">", gt, lambda v, b: v > b), (">=", ge, lambda v, b: v >= b),
                            ("<", lt, lambda v, b: v < b), ("<=", le, lambda v, b: v <= b)):
        if bound is not None:
            parts.append(f"{op} {bound:g}")
            tests.append((test, bound))
    return " and ".join(parts), lambda v: all(t(v, b) for t, b in tests)


def _real(value: Any) -> float:
    if isinstance(value, bool):  # YAML's `true` is not a number
        raise ValueError
    v = float(value)
    if not math.isfinite(v):
        raise ValueError
    return v


def number(default: float | None, *, gt=None, ge=None, lt=None, le=None, optional: bool = False) -> Option:
    words, ok = _bounds(gt, ge, lt, le)

    def convert(value):
        v = _real(value)
        if not ok(v):
            raise ValueError
        return v

    return Option(default, f"a finite number {words}".rstrip(), convert, optional)


def integer(default: int | None, *, ge=None, le=None, optional: bool = False) -> Option:
    words, ok = _bounds(ge=ge, le=le)

    def convert(value):
        v = _real(value)
        if v != int(v) or not ok(v):
            raise ValueError
        return int(v)

    return Option(default, f"a whole number {words}".rstrip(), convert, optional)


def flag(default: bool | None, *, optional: bool = False) -> Option:
    def convert(value):
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError

    return Option(default, "true or false", convert, optional)


def choice(default: str, *others: str) -> Option:
    allowed = (default, *others)

    def convert(value):
        if value not in allowed:
            raise ValueError
        return value

    return Option(default, f"one of {', '.join(allowed)}", convert)


def fractions(default: list[float]) -> Option:
    """A list of numbers in (0, 1], e.g. learning-rate milestones as fractions of the epochs."""

    def convert(value):
        if not isinstance(value, (list, tuple)):
            raise ValueError
        out = [_real(v) for v in value]
        if any(not 0 < v <= 1 for v in out):
            raise ValueError
        return out

    return Option(list(default), "a list of fractions in (0, 1]", convert)


def resolve(method: str, options: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """The method's options: every default, overridden by the checked `given` values."""
    if not isinstance(given, dict):
        raise UserError(f"options of method {method} must be a mapping of option names to values, got {given!r}")
    unknown = sorted(set(given) - set(options), key=str)
    if unknown:
        valid = ", ".join(sorted(options)) or "(none)"
        raise UserError(f"unknown option '{unknown[0]}'{did_you_mean(unknown[0], options)} for method {method}; "
                        f"valid options: {valid}")
    out = {key: opt.default for key, opt in options.items()}
    out.update({key: options[key].check(method, key, value) for key, value in given.items()})
    return out
