"""The paid call of a stage, and what makes sure what it bought is saved.

::

    paid = buy_products(client, query, asins, offers)   # the reply and its tokens
    done = save_paid(lambda: store.commit(query, changes), what="query used-books-us",
                     patience_s=settings.save_patience_s, ready=lock_renewed)

Keepa has charged for a reply by the time it is saved; a save that gives up at the first
dropped connection throws the tokens away and buys the same products again later.  So
the store work between a paid call and its save, and the save itself, is tried again
while the database is unavailable in a way that passes
(:attr:`~keepa_deals.store.DatabaseUnavailable.transient`: a restart, a failover, a
connection the server ended, a lock held by another writer), waiting 0.2 s, then twice
as long each time up to 5 s, for up to ``patience_s`` (``KEEPA_DEALS_SAVE_PATIENCE_S``);
only then is the error raised and the work logged as given up.  Any other error (a full
disk, a read-only file, a schema out of date) is raised at once: waiting would not
change it.

``ready``, when given, is asked before each new try: True to try, False to wait on (the
database is still away), or it raises to give up (the run's lock was lost: another
runner may have taken the query over, and a late save would overwrite its ledger).

The waits are real time (a database comes back in real time, whatever clock the run
keeps) and outlast a stop request: the tokens are spent, and the stop takes effect once
the save is done or given up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest.history import REQUEST_DAYS, wants_history
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.products import ProductBatch
from keepa_deals.query import DealQuery
from keepa_deals.store import DatabaseUnavailable
from keepa_deals.tokens.costs import estimate_product_cost

log = logging.getLogger("keepa_deals.ingest")

T = TypeVar("T")

#: The first wait after a failed try, and the longest one.
FIRST_WAIT_S = 0.2
LONGEST_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Paid:
    """A ``/product`` reply and what it cost."""

    reply: ProductBatch
    tokens: int


def buy_products(client: KeepaClient, query: DealQuery, asins: Sequence[str],
                 offers: int | None) -> Paid:
    """The paid call of a stage: stats (and offers when ``offers``); the histories too
    when its verdict can save a deal (ingest/history.py: they cost no token)."""
    history = wants_history(offers, query.filters.offers.fetch_offers)
    reply = client.products(list(asins), domain=query.domain_id, stats=ev.stats_days(query),
                            history=history, offers=offers,
                            days=REQUEST_DAYS if history else None)
    spent = (reply.status.tokens_consumed if reply.status
             else estimate_product_cost(len(asins), offers=offers))
    return Paid(reply, spent)


def save_paid(work: Callable[[], T], *, what: str, patience_s: float,
              ready: Callable[[], bool] | None = None,
              sleep: Callable[[float], None] = time.sleep,
              monotonic: Callable[[], float] = time.monotonic) -> T:
    """``work()``, tried again while the database is away for a while, for up to
    ``patience_s`` seconds."""
    began = monotonic()
    wait = FIRST_WAIT_S
    tries = 0
    last: DatabaseUnavailable | None = None
    while True:
        if last is None or ready is None or ready():
            tries += 1
            try:
                return work()
            except DatabaseUnavailable as exc:
                if not exc.transient:
                    raise
                last = exc
        waited = monotonic() - began
        if waited + wait > patience_s:
            log.error("%s: given up after %.0f s and %d tries: the database stayed unavailable "
                      "(KEEPA_DEALS_SAVE_PATIENCE_S=%g): %s", what, waited, tries, patience_s,
                      last)
            raise last
        log.warning("%s: the database is unavailable (%s); again in %.1f s", what, last, wait)
        sleep(wait)
        wait = min(LONGEST_WAIT_S, wait * 2)


__all__ = ["Paid", "buy_products", "save_paid"]
