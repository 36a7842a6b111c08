"""What was paid for is saved: the save after a paid Keepa call outlasts a database outage.

::

    done = save_paid(lambda: store.commit(query, changes), what="batch 1a2b…",
                     patience_s=settings.save_patience_s)

Keepa has charged for a reply by the time it is saved; a save that gives up at the first
dropped connection throws the tokens away and buys the same products again later.  So a
save that fails with :class:`~keepa_deals.store.DatabaseUnavailable` (a restart, a
failover, a connection dropped under load) is tried again, backing off from 0.2 s to 5 s,
until it works or ``patience_s`` (``KEEPA_DEALS_SAVE_PATIENCE_S``) has passed since the
first try; only then is the error raised, logged as paid-for work lost.  Any other error is
raised at once: waiting would not change it.

The waits are real time (a database comes back in real time, whatever clock the run
keeps) and outlast a stop request: the tokens are spent, and the stop takes effect once
the save is done or given up.  A second SIGINT/SIGTERM still ends ``run`` at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from keepa_deals.store import DatabaseUnavailable

log = logging.getLogger("keepa_deals.ingest")

T = TypeVar("T")

#: The first wait after a failed save, and the longest one.
FIRST_WAIT_S = 0.2
LONGEST_WAIT_S = 5.0


def save_paid(save: Callable[[], T], *, what: str, patience_s: float,
              sleep: Callable[[float], None] = time.sleep,
              monotonic: Callable[[], float] = time.monotonic) -> T:
    """``save()``, tried again while the database is unavailable, for up to ``patience_s``."""
    began = monotonic()
    wait = FIRST_WAIT_S
    tries = 0
    while True:
        tries += 1
        try:
            return save()
        except DatabaseUnavailable as exc:
            waited = monotonic() - began
            if waited + wait > patience_s:
                log.error("%s: paid for and not saved: the database stayed unavailable for "
                          "%.0f s (KEEPA_DEALS_SAVE_PATIENCE_S=%g), %d tries: %s",
                          what, waited, patience_s, tries, exc)
                raise
            log.warning("%s: could not save what was paid for (%s); again in %.1f s", what,
                        exc, wait)
        sleep(wait)
        wait = min(LONGEST_WAIT_S, wait * 2)


__all__ = ["save_paid"]
