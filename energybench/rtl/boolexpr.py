"""Liberty-syntax Boolean functions ("!(A1 & A2)", "(A B) + C'") compiled to bitwise numpy.

Both cell sources use this one parser: the generic Yosys gates declare their functions in
the same syntax, so a netlist evaluator never needs to know where a cell came from.

Operators, highest precedence first (Liberty Reference Manual, "function" attribute):
postfix ``'`` and prefix ``!`` (invert), ``^`` (xor), ``&``, ``*`` or a space (and),
``|`` or ``+`` (or). Constants ``0`` and ``1``; parentheses group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\[\]\.]*)|(?P<const>[01])|(?P<op>[!'^&*|+()]))")
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)


class BoolExprError(ValueError):
    """A function string that is not valid Liberty Boolean syntax."""


@dataclass(frozen=True)
class BoolExpr:
    """A parsed function: its source text, the pins it reads, and an evaluator.

    ``evaluate`` takes a mapping pin -> uint64 array (one bit per simulated vector) and
    returns the function applied bitwise; a constant function returns a numpy scalar,
    which broadcasts on assignment.
    """

    text: str
    inputs: tuple[str, ...]
    evaluate: Callable[[Mapping[str, np.ndarray]], np.ndarray]


def parse(text: str) -> BoolExpr:
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    tree = parser.parse_or()
    if parser.pos != len(tokens):
        raise BoolExprError(f"unexpected {tokens[parser.pos][1]!r} in function {text!r}")
    names: list[str] = []
    _collect(tree, names)
    return BoolExpr(text=text, inputs=tuple(names), evaluate=_compile(tree))


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:
            raise BoolExprError(f"cannot parse function {text!r} at {stripped[pos:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent; trees are tuples: ("name", n) ("const", 0|1) ("not", t) (op, l, r)."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _accept(self, *ops: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.pos += 1
            return token[1]
        return None

    def parse_or(self):
        tree = self.parse_and()
        while self._accept("|", "+"):
            tree = ("or", tree, self.parse_and())
        return tree

    def parse_and(self):
        tree = self.parse_xor()
        while True:
            if self._accept("&", "*"):
                tree = ("and", tree, self.parse_xor())
                continue
            token = self._peek()
            # Juxtaposition ("A B", "A (B+C)", "A !B") is an implicit AND.
            if token is not None and (token[0] in ("name", "const") or token[1] in ("(", "!")):
                tree = ("and", tree, self.parse_xor())
                continue
            return tree

    def parse_xor(self):
        tree = self.parse_unary()
        while self._accept("^"):
            tree = ("xor", tree, self.parse_unary())
        return tree

    def parse_unary(self):
        if self._accept("!"):
            return ("not", self.parse_unary())
        tree = self.parse_primary()
        while self._accept("'"):
            tree = ("not", tree)
        return tree

    def parse_primary(self):
        token = self._peek()
        if token is None:
            raise BoolExprError(f"function {self.text!r} ends early")
        self.pos += 1
        kind, value = token
        if kind == "name":
            return ("name", value)
        if kind == "const":
            return ("const", int(value))
        if value == "(":
            tree = self.parse_or()
            if not self._accept(")"):
                raise BoolExprError(f"missing ')' in function {self.text!r}")
            return tree
        raise BoolExprError(f"unexpected {value!r} in function {self.text!r}")


def _collect(tree, names: list[str]) -> None:
    if tree[0] == "name":
        if tree[1] not in names:
            names.append(tree[1])
    elif tree[0] != "const":
        for child in tree[1:]:
            _collect(child, names)


def _compile(tree) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    kind = tree[0]
    if kind == "name":
        name = tree[1]
        return lambda env: env[name]
    if kind == "const":
        value = _ALL_ONES if tree[1] else _ZERO
        return lambda env: value
    if kind == "not":
        inner = _compile(tree[1])
        return lambda env: ~inner(env)
    left, right = _compile(tree[1]), _compile(tree[2])
    if kind == "and":
        return lambda env: left(env) & right(env)
    if kind == "or":
        return lambda env: left(env) | right(env)
    return lambda env: left(env) ^ right(env)
