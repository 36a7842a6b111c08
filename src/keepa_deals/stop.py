"""A stop request: a signal of its own, outside the error tree.

A :class:`StopSignal` makes every wait of the process (the budget's short
waits, the HTTP retry backoff, the scheduler's sleeps) end at once when it is
set: a SIGINT or SIGTERM stops the process within moments, between two paid
calls, with everything bought so far saved.

:class:`RunStopped` is what a wait or a checkpoint raises then.  It is not a
:class:`~keepa_deals.errors.KeepaDealsError`: a stop is what the operator
asked for, not a failure, so ``except KeepaDealsError`` (which turns failures
into an error outcome, a retry or a message) never swallows it.  The places
that end a run on it catch it by name: the runner (``ingest/runner.py``: the
run ends ``ok`` and ``stopped``), the Celery batch worker (``fanout/worker.py``:
the batch is sent again) and ``keepa-deals run`` (``cli/run_cmd.py``).
It derives from :class:`Exception`, not :class:`BaseException`: cleanup code
written as ``except Exception`` / ``finally`` still runs on its way out.
"""

from __future__ import annotations

import threading

from keepa_deals.clock import SYSTEM_CLOCK, Clock


class RunStopped(Exception):
    """The process was asked to stop (SIGINT/SIGTERM, or ``run --for`` ran out)."""


class StopSignal:
    """A flag every wait of the process watches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the stop was asked for."""
        return self._event.wait(max(0.0, seconds))

    def check(self) -> None:
        """Raise :class:`RunStopped` when the stop was asked for."""
        if self._event.is_set():
            raise RunStopped("stopped on request")


class StoppableClock:
    """``clock``'s time, with sleeps that end (raising RunStopped) when ``stop`` is set."""

    def __init__(self, clock: Clock, stop: StopSignal) -> None:
        self._clock = clock
        self._stop = stop

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def sleep(self, seconds: float) -> None:
        self._stop.check()
        if self._clock is SYSTEM_CLOCK:
            if self._stop.wait(seconds):
                raise RunStopped("stopped on request")
        else:
            self._clock.sleep(seconds)
