"""Time for the simulated service. Job progress is a function of (now - started_at), so a restarted
emulator picks a running job up where its clock says it is. Tests use `ManualClock` to step time."""
from __future__ import annotations

import threading
import time


class Clock:
    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class JumpClock(Clock):
    """Real time that can also jump ahead: everything runs at its own pace (uploads, deployments, polls) and a
    long job finishes the moment a test calls `advance`, instead of after its wall-clock duration."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
