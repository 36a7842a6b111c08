"""What a run is doing while it runs: pages bought, batches checked, waits.

The embedded ``run`` shows them on a terminal (``cli/run_cmd.py``); nothing else
listens by default.  A listener is a plain callable set on the environment's
:class:`ProgressSink`; it must not raise (an error in it is logged and dropped: a
display never costs a paid batch).

::

    env.progress.listen(lambda e: print(e.kind, e.tokens))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from keepa_deals.clock import Clock
from keepa_deals.stop import StoppableClock, StopSignal

log = logging.getLogger(__name__)

#: Waits shorter than this are not announced.
ANNOUNCE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a run.  ``pages``/``tokens``/``checked``/``added`` are the run's totals
    so far (0 for a wait)."""

    kind: Literal["page", "batch", "wait"]
    query: str | None = None
    pages: int = 0
    tokens: int = 0
    checked: int = 0
    added: int = 0
    #: A batch: its stage (stats, offers, refresh) and how many ASINs it carried.
    stage: str | None = None
    size: int = 0
    #: A wait: how long and until when.
    wait_s: float = 0.0
    until: datetime | None = None


class ProgressSink:
    """Where a run's steps go: to the listener, when one is set."""

    def __init__(self) -> None:
        self._listener: Callable[[ProgressEvent], None] | None = None

    def listen(self, listener: Callable[[ProgressEvent], None] | None) -> None:
        self._listener = listener

    def emit(self, event: ProgressEvent) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            listener(event)
        except Exception:  # a display must never cost a paid batch
            log.exception("progress listener failed")


class AnnouncingClock(StoppableClock):
    """A stoppable clock that announces to ``sink`` each sleep of a second or more (with
    its end) before sleeping it."""

    def __init__(self, clock: Clock, stop: StopSignal, sink: ProgressSink) -> None:
        super().__init__(clock, stop)
        self._sink = sink

    def sleep(self, seconds: float) -> None:
        if seconds >= ANNOUNCE_WAIT_S:
            until = datetime.fromtimestamp((self.now_ms() + seconds * 1000) / 1000, UTC)
            self._sink.emit(ProgressEvent("wait", wait_s=seconds, until=until))
        super().sleep(seconds)
