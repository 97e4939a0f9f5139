"""One process at a time per run directory: an exclusive lock on `<run>/.lock`.

Every command that writes into a run directory takes it before it reads anything there (a
writer that read metrics.csv before waiting for the lock would write back a stale copy).
The lock is an flock(2) on the file, which the kernel releases when the process ends however
it ends (killed included). The file records the holder's pid, host and start time, for the
message a second process gets; a clean release empties it, so a file that still names a holder
when its flock is free was left by a process that died: it is taken over with a notice. (flock
is advisory and local: two machines writing one run directory over NFS are not kept apart by
it; run a sweep's driver on one machine.)
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from energybench.errors import UserError

READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def read_only_error(folder: Path, exc: OSError, hint: str) -> UserError:
    """A run directory that cannot be written: say so (not 'choose another --out')."""
    why = "is on a read-only filesystem" if exc.errno == errno.EROFS else "is read-only (no write permission)"
    return UserError(f"{folder} {why}; {hint}")


RESUME_HINT = ("a resume writes into it (its lock, rows and checkpoints): make it writable, or copy the run "
               "directory somewhere writable and resume the copy")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def may_be_run(folder: Path) -> bool:
    """Whether a folder may be a run directory (a run's lock file, config or rows are there, or a
    run is starting in it): a command takes the lock there first. Any other folder is refused as not
    a run before anything is written into it, a lock file included."""
    return any((Path(folder) / name).exists() for name in (".lock", "config.yaml", "metrics.csv"))


class RunLock:
    def __init__(self, root: Path, read_only_hint: str = RESUME_HINT, busy_hint: str = "or choose another --run-id",
                 log=None):
        self.path = Path(root) / ".lock"
        self.hint, self.busy_hint = read_only_hint, busy_hint
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self._fd: int | None = None
        self.created = False  # whether acquire() made the lock file (release(discard=True) removes it)

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                self.created = True
            except FileExistsError:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                self.created = False
        except OSError as exc:
            if exc.errno in READ_ONLY:
                raise read_only_error(self.path.parent, exc, self.hint) from None
            raise
        return fd

    def acquire(self) -> None:
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self.path.read_text(errors="replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{self.path.parent} is in use by {holder}; wait for that run to finish (or stop "
                                f"it), {self.busy_hint}") from None
            if _names(self.path, fd):
                break
            os.close(fd)  # a refused start removed the file after this opened it (release): lock the one there now
        left = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if left:  # the last holder ended without releasing it (killed, or its machine lost power)
            self.log(f"energybench: notice: {self.path.parent} was locked by {_holder_state(left)}; "
                     "taking the lock over")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"energybench process {os.getpid()} on {socket.gethostname()}, started "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, discard: bool = False) -> None:
        """Drop the lock; with `discard`, a lock file acquire() made is removed too (a command that
        was refused leaves nothing in a directory that was not a run). Removed while still held: a
        process that opened the old file is refused as busy, or, locking it after this one let go,
        finds that the path names another file and locks that (acquire); never two holders."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)  # emptied: the next holder knows this one ended cleanly
                if discard and self.created:
                    self.path.unlink()
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _names(path: Path, fd: int) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)


def _holder_state(text: str) -> str:
    """'energybench process 123 on host, started ...' with whether that process is gone."""
    words = text.split()
    try:
        pid, host = int(words[2]), words[4].rstrip(",")
    except (IndexError, ValueError):
        return f"'{text[:120]}', which no longer holds it"
    if host == socket.gethostname():
        return f"{text}, which is no longer running" if not _alive(pid) else \
            f"{text}, which no longer holds it (the process id was reused)"
    return f"{text}, on another machine, whose lock is not held now"
