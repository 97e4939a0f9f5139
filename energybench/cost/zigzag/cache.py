"""ZigZag's answers on disk, so a sweep maps each distinct layer-pass once.

Key: SHA-256 of the canonical JSON of everything the answer depends on: the ZigZag layer (its
shape, which carries the precision), the translated hardware description (levels, capacities,
bandwidths and per-access energies: the architecture, node, supply and table), the mapping
file, the mapper settings and ZigZag's version. Values are JSON (never pickle), written to a
temporary file and renamed, so a reader never sees half a file and parallel writers of one key
leave one whole answer.

Where: $ENERGYBENCH_CACHE/zigzag, else $XDG_CACHE_HOME/energybench/zigzag, else
~/.cache/energybench/zigzag.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

SCHEMA = 1  # bump when the stored result's form changes


def cache_dir() -> Path:
    if os.environ.get("ENERGYBENCH_CACHE"):
        return Path(os.environ["ENERGYBENCH_CACHE"]).expanduser() / "zigzag"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "energybench" / "zigzag"


def key(*parts) -> str:
    text = json.dumps([SCHEMA, *parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def get(k: str, where: Path | None = None) -> dict | None:
    path = (where or cache_dir()) / k[:2] / f"{k}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # missing, or unreadable: mapped again
        return None


def put(k: str, value: dict, where: Path | None = None) -> None:
    folder = (where or cache_dir()) / k[:2]
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(value, fh, sort_keys=True)
        os.replace(tmp, folder / f"{k}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
