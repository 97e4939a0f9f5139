"""The background thread that calls a tick function at a fixed rate.

Ticks are scheduled on a fixed grid (start + k / rate) so the rate does not drift
with the tick's own cost; a tick that falls behind is skipped, not bunched up.
The thread is a daemon so a crashed run never hangs on it, and it records its own
CPU time (``time.thread_time``) so the sampling overhead can be measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Sampler:
    """Calls ``tick(now)`` ``rate_hz`` times a second on a daemon thread until stopped."""

    def __init__(self, tick: Callable[[float], None], rate_hz: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self._tick = tick
        self._period = 1.0 / rate_hz
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cpu_time_s = 0.0  # CPU time the thread has used, updated every tick
        self.ticks = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="energybench-power", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        cpu0 = time.thread_time()
        next_t = self._clock()
        while not self._stop.is_set():
            self._tick(self._clock())
            self.ticks += 1
            self.cpu_time_s = time.thread_time() - cpu0
            next_t += self._period
            delay = next_t - self._clock()
            if delay < 0:  # fell behind (a slow read or a busy GIL): skip, do not bunch
                next_t = self._clock()
                delay = 0.0
            self._stop.wait(delay)
        self.cpu_time_s = time.thread_time() - cpu0
