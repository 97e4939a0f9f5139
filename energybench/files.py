"""Atomic file writes, shared by everything that writes a run directory or a report.

A file is written to a temporary name beside it, flushed to disk and renamed into place,
so a run interrupted at any moment leaves each file either as it was or complete.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def file_mode() -> int:
    """The mode open() would give a new file: 0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, text: str | bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())  # mkstemp makes files private (0600); honour the user's umask instead
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, data: str | bytes) -> Path:
    """atomic_write for a file a user asked for (a report, an exported figure): a failure is
    one message naming the file (UserError), not a traceback."""
    from energybench.errors import OutputFailed

    try:
        atomic_write(path, data)
    except OSError as exc:
        raise OutputFailed(f"cannot write {path}: {exc.strerror}", exc.errno) from None
    return path


def strict(data: Any) -> Any:
    """`data` with every NaN or infinite float replaced by None: JSON (RFC 8259) has no NaN, and
    JavaScript's JSON.parse and many tools refuse the bare `NaN` Python's json writes."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict(v) for v in data]
    if hasattr(data, "item") and not isinstance(data, (str, bytes)):  # a numpy scalar
        try:
            return strict(data.item())
        except (TypeError, ValueError):
            return data
    return data


def json_text(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text: missing values as null, never NaN (readers still accept old runs' NaN)."""
    return json.dumps(strict(data), indent=indent, sort_keys=False, default=str, allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json_text(data) + "\n")
