"""Liberty-syntax functions evaluate bitwise to the truth table they spell."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from energybench.rtl.boolexpr import BoolExprError, parse


def truth_table(text: str, names: str) -> list[int]:
    """Output of ``text`` for every input combination (first name = most significant)."""
    expr = parse(text)
    rows = []
    for bits in itertools.product((0, 1), repeat=len(names)):
        env = {n: np.array([np.uint64(0xFFFFFFFFFFFFFFFF if b else 0)]) for n, b in zip(names, bits)}
        out = np.broadcast_to(expr.evaluate(env), (1,))[0]
        assert out in (0, 0xFFFFFFFFFFFFFFFF)  # every bit of the word agrees
        rows.append(int(out != 0))
    return rows


@pytest.mark.parametrize(
    "text, names, table",
    [
        ("!(A & B)", "AB", [1, 1, 1, 0]),
        ("(A+B)'", "AB", [1, 0, 0, 0]),
        ("A ^ B", "AB", [0, 1, 1, 0]),
        ("A B", "AB", [0, 0, 0, 1]),  # juxtaposition is AND
        ("A*B + C", "ABC", [0, 1, 0, 1, 0, 1, 1, 1]),
        ("A | B & C", "ABC", [0, 0, 0, 1, 1, 1, 1, 1]),  # & binds tighter than |
        ("A & B ^ C", "ABC", [0, 0, 0, 0, 0, 1, 1, 0]),  # ^ binds tighter than &: A & (B ^ C)
        ("!A'", "A", [0, 1]),  # double inversion
        ("(A&!S)|(B&S)", "ABS", [0, 0, 0, 1, 1, 0, 1, 1]),  # 2:1 mux
    ],
)
def test_truth_tables(text, names, table):
    assert truth_table(text, names) == table


def test_constants_and_inputs():
    one, zero = parse("1"), parse("0")
    assert one.inputs == () and int(one.evaluate({})) == 0xFFFFFFFFFFFFFFFF
    assert int(zero.evaluate({})) == 0
    assert parse("!(A1 & A2) | B").inputs == ("A1", "A2", "B")
    assert parse("IQ").inputs == ("IQ",)


def test_bit_parallel_lanes_are_independent():
    expr = parse("A ^ B")
    a = np.array([0b1100], dtype=np.uint64)
    b = np.array([0b1010], dtype=np.uint64)
    assert int(expr.evaluate({"A": a, "B": b})[0]) == 0b0110


@pytest.mark.parametrize("bad", ["A &", "(A | B", "A $ B", "", "A )"])
def test_malformed_functions_are_rejected(bad):
    with pytest.raises(BoolExprError):
        parse(bad)
