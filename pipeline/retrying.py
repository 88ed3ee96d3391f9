"""What the library's waits share: give up before a wait that would end past the caller's timeout."""
from __future__ import annotations

import time

import tenacity


class stop_before_timeout(tenacity.stop.stop_base):  # noqa: N801 - named like tenacity's own stop_* conditions
    """Stop when the next wait would end more than `timeout` seconds after `started` (default: now).

    Time waited is the larger of the wall clock and the sleeps so far, so an injected sleep (a test's, or a
    caller's own clock) counts like a real one."""

    def __init__(self, timeout: float, *, started: float | None = None) -> None:
        self.timeout = timeout
        self.started = time.monotonic() if started is None else started

    def waited(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds waited before the sleep tenacity is about to take."""
        slept = retry_state.idle_for - (retry_state.upcoming_sleep if retry_state.next_action else 0.0)
        return max(time.monotonic() - self.started, slept)

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.waited(retry_state) + retry_state.upcoming_sleep > self.timeout
