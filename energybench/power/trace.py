"""power_trace.csv: one row per sensor reading (time_s, device, watts), appended atomically.

Each append writes the old rows plus the new ones to a temporary file beside the
trace and renames it over the trace (``os.replace``), so a run killed mid-write
leaves the previous complete trace, never a torn one. ``time_s`` is Unix time in
seconds, so rows appended by a resumed run stay in order and comparable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from energybench.files import file_mode

TRACE_COLUMNS = ("time_s", "device", "watts")
_HEADER = ",".join(TRACE_COLUMNS) + "\n"


def append_power_trace(path: Path | str, rows: Iterable[tuple[float, str, float]]) -> int:
    """Append ``(time_s, device, watts)`` rows to the trace at ``path``; returns how many.

    Creates the file (with its header) if missing. Device labels contain no comma.
    """
    path = Path(path)
    lines = [f"{t:.3f},{device},{watts:.3f}\n" for t, device, watts in rows]
    if not lines and path.exists():
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            if path.exists():
                with open(path, encoding="utf-8", newline="") as old:
                    shutil.copyfileobj(old, out)
            else:
                out.write(_HEADER)
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private (0600); keep the trace's mode, or the umask's for a new one.
        os.chmod(tmp_name, path.stat().st_mode & 0o777 if path.exists() else file_mode())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return len(lines)
