"""The progress of a whole run: phases and cells done of the total, elapsed time and an
estimate of what is left, measured from the rate at which phases have finished.

Shown as one bar on a terminal (the trainer's per-epoch bars sit under it when one process
trains), and as a bracketed status on each finished phase's line, so that a log file of a
long run says how far it got and how long the rest will take.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


ESTIMATED_FROM = 3  # finished phases before the time left is estimated (eta)


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class RunProgress:
    def __init__(self, phases: int, cells: int, *, bar: bool, log=print):
        self.total, self.cells_total = phases, cells
        self.done = self.cells_done = 0
        self.log = log
        self.t0 = time.perf_counter()
        self.t_first: float | None = None  # when the first phase finished
        self._announced = False
        self._bar = tqdm(total=phases, desc="run", unit="phase", position=0, file=sys.stderr,
                         bar_format="{desc}: {n}/{total} phases {bar} {postfix}") if bar and phases else None

    def eta(self) -> float | None:
        """Seconds left at the rate phases have finished since the first one did (None before
        ESTIMATED_FROM have). Not from the start: the wait for the first phase is mostly start-up
        (imports, a Ray cluster's workers warming up), and counting it once per phase put a 24 s
        sweep on two workers at "about 4m12s"; not from the second phase alone: under Ray, the
        workers' first phases finish together."""
        if self.done < ESTIMATED_FROM:
            return None
        return (time.perf_counter() - self.t_first) / (self.done - 1) * (self.total - self.done)

    def status(self) -> str:
        eta = self.eta()
        left = f", about {duration(eta)} left" if eta is not None and self.done < self.total else ""
        return (f"[{self.done}/{self.total} phases, {self.cells_done}/{self.cells_total} cells, "
                f"{duration(time.perf_counter() - self.t0)} elapsed{left}]")

    def phase_done(self, line: str, *, cell_finished: bool = False) -> None:
        self.done += 1
        self.cells_done += int(cell_finished)
        if self.t_first is None:
            self.t_first = time.perf_counter()
        eta = self.eta()
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{self.cells_done}/{self.cells_total} cells, "
                                      f"{duration(time.perf_counter() - self.t0)} elapsed"
                                      + (f", ~{duration(eta)} left" if eta is not None else ""))
            self._bar.write(f"{line} {self.status()}", file=sys.stdout)
        else:
            self.log(f"{line} {self.status()}")
        if not self._announced and eta is not None and self.done < self.total:
            self._announced = True
            self.log(f"estimated duration: about {duration(eta + time.perf_counter() - self.t0)} in total "
                     f"(from the first {self.done} phases; refined as the run goes on)")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
