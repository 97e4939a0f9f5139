"""Reading YAML that someone else wrote (experiment configs, energy tables, architecture files,
Accelergy ERTs).

Safe types only (yaml.SafeLoader: no object ever executes), text only, and bounded: YAML
aliases let a few hundred bytes name a billion values (`a: &a [x, x]`, `b: &b [*a, *a]`, ...),
cheap to parse but not to walk, print or record. The composed document is measured before
anything is built from it, and refused when its aliases expand it beyond MAX_VALUES, or when
a mapping sets one key twice (YAML would keep the last silently). Numbers are finite: `.nan`,
`.inf`, `1.0e+400` (which YAML reads as infinity) and integers past 1.8e308 are refused
wherever they stand: no count, size or energy is NaN or infinite, and JSON cannot hold a NaN.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from energybench.errors import UserError, shown

# Far above any real config or table (a 1000-class explicit class order is ~1,000 values).
MAX_VALUES = 100_000
_FLOAT_MAX = 1.7976931348623157e308  # an integer past it cannot become a float: as infinite as .inf


class RefusedDocument(ValueError):
    """A document too large once its aliases are expanded, or one that contains itself."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_VALUES) -> int:
    """How many values the document holds once every alias is expanded (aliases share their
    node, so each distinct node is measured once). Raises ValueError past `limit` or on an
    alias that contains itself (RefusedDocument)."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()  # on the current path (iterative, so deep nesting cannot overflow)
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            entered.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > limit:
                raise RefusedDocument(f"its aliases expand it to more than {limit:,} values")
            continue
        if key in sizes:
            continue
        entered.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in entered:
                raise RefusedDocument("an alias refers to a value that contains it")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def repeated_key(root: yaml.Node) -> None:
    """Raises RefusedDocument for a mapping that sets a key twice: YAML keeps the last value
    silently, so `epochs: 3` further down a long config would quietly win."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        lines = f"{first[key.value].start_mark.line + 1} and {key.start_mark.line + 1}"
                        raise RefusedDocument(f"key '{key.value}' is set twice (lines {lines})")
                    first[key.value] = key
        stack.extend(_children(node))


def non_finite(data: Any) -> str | None:
    """Where the first NaN or infinite number in loaded data stands, as `key.key[i] (value)`;
    None when every number is finite. Iterative: data nested thousands deep cannot overflow."""
    stack: list[tuple[str, Any]] = [("", data)]
    seen: set[int] = set()  # aliases share their value: each container is walked once
    while stack:
        where, value = stack.pop()
        if (isinstance(value, float) and not math.isfinite(value)) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_MAX):
            return f"{where or 'the document'} ({shown(value)})"
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, float) and not math.isfinite(key):
                    return f"a key of {where or 'the document'} ({key})"
                sub = f"{where}[{key}]" if isinstance(value, list) else (f"{where}.{shown(key)}" if where
                                                                          else shown(key))
                stack.append((sub.replace("'", ""), item))
    return None


class _BoundedLoader(yaml.SafeLoader):
    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            expanded_size(node)
            repeated_key(node)
        return node


def load_user_yaml(path: str | Path, label: str) -> Any:
    """The YAML document in `path`, read safely; `label` names it in messages ("config file x.yaml")."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{label} is a directory; give a YAML file")
    if not p.is_file():
        raise UserError(f"{label} does not exist")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {label}: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise UserError(f"{label} is a binary file, not YAML text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{label} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                        "save it as UTF-8 YAML") from None
    try:
        loader = _BoundedLoader(text)  # a SafeLoader: builds plain data only
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise UserError(f"{label} is not valid YAML{where}: {problem}" + (f" ({context})" if context else "")) from None
    except RefusedDocument as exc:
        raise UserError(f"{label} is refused: {exc}") from None
    except ValueError as exc:  # a value the safe constructor cannot build, e.g. the date 2024-13-45
        raise UserError(f"{label} is not valid YAML: {exc}") from None
    except RecursionError:
        raise UserError(f"{label} is refused: its values are nested too deeply") from None
    bad = non_finite(data)
    if bad is not None:
        raise UserError(f"{label}: {bad} is not a finite number; every number must be finite "
                        "(not .nan, .inf, or beyond 1.8e308)")
    return data
