"""Waiting inside Pulumi's dynamic provider process, and noticing when Pulumi stops it.

On an interrupted `pulumi up` the engine sends SIGINT to the provider process and kills it 5 s later. The
process's main thread then ends and the interpreter joins the gRPC worker that runs a long create (training, the
smoke test's waits). A wait that notices this can say what happens next and end in time.
"""
from __future__ import annotations

import threading


class ProviderStopping(Exception):
    """Pulumi is stopping the provider process (`pulumi up` was interrupted) while a wait was in progress."""


_STOPPING: list[threading.Event] = []
_STOPPING_LOCK = threading.Lock()


def arm_stop_signal() -> threading.Event:
    """An event set when this process starts shutting down, before it joins its worker threads.

    `threading._register_atexit` (what `concurrent.futures` itself uses) runs its callbacks before that join;
    `atexit` would run after it, too late. Call it before anything slow: registering is refused once shutdown
    has begun.
    """
    with _STOPPING_LOCK:
        if not _STOPPING:
            event = threading.Event()
            threading._register_atexit(event.set)  # type: ignore[attr-defined]
            _STOPPING.append(event)
        return _STOPPING[0]


def sleep_unless_stopping(seconds: float) -> None:
    """`time.sleep`, but raise `ProviderStopping` as soon as the provider process starts shutting down."""
    if arm_stop_signal().wait(seconds):
        raise ProviderStopping()
