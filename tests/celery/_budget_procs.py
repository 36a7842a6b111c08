"""Worker processes of the budget tests across processes (importable under ``spawn``).

Each one is a worker of its own: its own settings, Keepa connection, budget
handle and Redis connections, as on another host.  It waits for the start
signal, then pays for one /deal page through the shared Redis budget, the way
the ingestor does (``KeepaClient``: acquire, call the sandbox, settle).
"""

from __future__ import annotations

import logging
import os
import sys
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from keepa_deals.budget import open_budget
from keepa_deals.keepa import build_http
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.query import default_query
from keepa_deals.settings import Settings
from keepa_deals.tokens.errors import TokenRechargeError


def pay_for_a_page(settings: dict[str, Any], start: Event,
                   ready: Queue[int], out: Queue[dict[str, Any]]) -> None:
    """Report ``{"pid", "outcome": "granted" | "recharge" | "error", "retry_after",
    "projected", "syncs", "waited_s"}`` on ``out``, after saying on ``ready`` that it
    is connected.  Every failure is reported, none leaves the test waiting; the
    budget's log goes to stderr, which the test shows when it fails."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s pid {os.getpid()} %(name)s: %(message)s")
    result: dict[str, Any] = {"pid": os.getpid()}
    http = budget = None
    try:
        s = Settings(**settings)
        http = build_http(s)
        budget = open_budget(s, sync=http.token_status)
        client = KeepaClient(http, budget)
        budget.store.now_ms()  # connected before the start
        ready.put(os.getpid())
        start.wait(60)
        began = budget.store.now_ms()
        try:
            client.deals(default_query().selection_for_page(0))
            result["outcome"] = "granted"
        except TokenRechargeError as exc:
            result.update(outcome="recharge", retry_after=exc.retry_after,
                          projected=exc.projected)
        result["waited_s"] = (budget.store.now_ms() - began) / 1000
        result["syncs"] = budget.syncs
    except BaseException as exc:  # reported to the test, which fails with it
        result.update(outcome="error", error=f"{type(exc).__name__}: {exc}")
    finally:
        try:
            if http is not None:
                http.close()
            if budget is not None:
                budget.store.close()
        finally:
            ready.put(os.getpid())  # never leave the test waiting for a ready
            out.put(result)
