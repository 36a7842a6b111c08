"""Worker processes for the Redis concurrency tests (importable under ``spawn``)."""

from __future__ import annotations

import os
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.redis_store import RedisStore

#: after the first refusal, a worker keeps asking this many times: none may be granted
EXTRA_ATTEMPTS = 20


def grab_leases(url: str, fp: str, policy: Policy, start: Event,
                out: Queue[tuple[int, int]]) -> None:
    """Acquire 1-token leases as fast as possible, never settling; report (granted, refused)."""
    store = RedisStore(url, fp)  # Redis TIME, as in production
    granted = refused = 0
    i = 0
    try:
        start.wait(30)
        while refused <= EXTRA_ATTEMPTS:
            i += 1
            d = store.acquire(f"w{os.getpid()}-{i}", 1 * MT, policy)
            if d.kind == "grant":
                granted += 1
            else:
                refused += 1
    finally:
        store.close()
        out.put((granted, refused))
