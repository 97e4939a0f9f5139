"""One process at a time per run directory: an exclusive lock on `<run>/.lock`.

The lock is an flock(2) on the file, which the kernel releases when the process ends however
it ends (killed included), so a lock is never stale: a leftover `.lock` file is simply taken
by the next run. The file records the holder's pid and host, for the message a second process
gets. (flock is advisory and local: two machines writing one run directory over NFS are not
kept apart by it; run a sweep's driver on one machine.)
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from energybench.errors import UserError


class RunLock:
    def __init__(self, root: Path):
        self.path = Path(root) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text().strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.path.parent} is in use by {holder}; wait for that run to finish (or stop it), "
                            "or choose another --run-id") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"energybench process {os.getpid()} on {socket.gethostname()}, started "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
