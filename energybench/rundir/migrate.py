"""Run directories of other versions: an older layout is read (what it lacks is named once and left
out of the figures), a newer one is refused before anything of it is read or written."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import energybench
from energybench.errors import UserError
from energybench.rundir.schema import FORMAT, FORMAT_KEY, MANIFEST, SCHEMA


def written_format(root: Path) -> int | None:
    """The layout version manifest.json records; None for a directory written before the key
    existed (or without a readable manifest: its readers say why where they need it)."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    value = manifest.get(FORMAT_KEY) if isinstance(manifest, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        raise UserError(f"{Path(root) / MANIFEST}: {FORMAT_KEY} is {value!r}; it must be a whole number "
                        f"(this version writes {FORMAT})") from None


def check_format(root: Path) -> None:
    """A UserError for a run directory written by a newer energybench, whose layout this one cannot know."""
    found = written_format(root)
    if found is not None and found > FORMAT:
        raise UserError(f"run directory {root} was written by a newer energybench (format {found}); "
                        f"this version reads up to {FORMAT}")


def schema_notice(path: Path, header: list[str]) -> None:
    """A notice when the columns are not those this version writes: dropped (an older version's
    metrics.csv), or inserted among its own (an edited one)."""
    missing = [c for c in SCHEMA if c not in header]
    last = max((k for k, c in enumerate(header) if c in SCHEMA), default=-1)
    own = [c for c in header[:last] if c not in SCHEMA]  # a method's extra columns come after all of these
    parts = []
    if missing:
        named = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        parts.append(f"lacks the column{'s' if len(missing) > 1 else ''} {named} (left out of the figures and "
                     "tables)")
    if own:
        parts.append(f"has the column{'s' if len(own) > 1 else ''} {', '.join(own)} among energybench's own "
                     "(ignored)")
    if parts:
        warnings.warn(f"{path} " + " and ".join(parts) + f": it was not written by this version of energybench "
                      f"({energybench.__version__}) or was edited; what it lacks is not reported", stacklevel=3)
