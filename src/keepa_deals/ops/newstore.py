"""A new deal store on an account already in use: reported loudly before a first run pays.

An empty deal store (no deal, no earlier run) is what a new user has, and also what a
lost or replaced database looks like (a zero-byte file, a fresh schema, a wrong
``DATABASE_URL``): its first run then buys the whole feed again.  The shared budget
tells the two apart: a new user's has no state yet and a full bucket, while an account
in use has budget state from before, or a balance far below the cap.  The ingestor logs
:func:`earlier_activity` before it pays, ``status`` shows it, and doctor's
``new_store`` check warns; nothing is blocked (docs/failure-classes.md, FC-21).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from keepa_deals.store.state import NEW_STORE_KEY

if TYPE_CHECKING:
    from keepa_deals.store.store import DealStore

#: A balance below this share of the cap is spending someone did.
LOW_BALANCE_SHARE = 0.5
#: How long ``status`` and doctor show a run's finding after it.
SHOWN_FOR = timedelta(hours=24)


def earlier_activity(*, deals: int, earlier_runs: int, budget_known: bool,
                     balance: int | None, cap: int | None) -> str | None:
    """Why an empty deal store looks like a lost one; None when it is not empty or nothing
    says the account was used before."""
    if deals > 0 or earlier_runs > 0:
        return None
    signs = []
    if budget_known:
        signs.append("the shared token budget has state from before")
    if balance is not None and cap and balance < cap * LOW_BALANCE_SHARE:
        signs.append(f"the token balance ({balance}) is far below the cap ({cap})")
    if not signs:
        return None
    return ("the deal store is new (no deal, no run) but " + " and ".join(signs)
            + ": if a database was lost or replaced (DATABASE_URL, a deleted file), the "
            "first run buys every deal of the feed again")


def store_is_new(store: DealStore, *, current_run: int | None = None) -> tuple[int, int]:
    """How many runs the store recorded (besides ``current_run``, at most two are read) and
    its deal count; either says the store is not new, so the deals (a full count) are
    counted only when no run is recorded."""
    runs = [r for r in store.recent_runs(limit=2) if r.id != current_run]
    deals = 0 if runs else store.count_deals()
    return deals, len(runs)


def record(store: DealStore, query: str, why: str) -> None:
    """Keep a run's finding for ``status`` and doctor (the store is not new once it ran)."""
    store.set_state(query, NEW_STORE_KEY, json.dumps({"at": store.now().isoformat(),
                                                      "why": why}))


def recorded(store: DealStore, queries: list[str], now: datetime) -> list[str]:
    """The findings of runs in the last :data:`SHOWN_FOR`, as lines."""
    out = []
    for query in queries:
        text = store.state_text(query, NEW_STORE_KEY)
        try:
            raw: Any = json.loads(text) if text else None
            at = datetime.fromisoformat(raw["at"])
            why = str(raw["why"])
        except (ValueError, TypeError, KeyError):
            continue
        if now - at <= SHOWN_FOR:
            out.append(f"query {query}, run at {at.isoformat(timespec='seconds')}: {why}")
    return out


def findings(store: DealStore | None, database_error: str | None, budget: dict[str, Any],
             queries: list[str], now: datetime) -> list[str]:
    """Everything ``status`` and doctor say about it: a store that is new now (or has no
    schema yet) on an account in use, and what runs of the last day found."""
    out = []
    if store is not None:
        deals, runs = store_is_new(store)
    elif database_error is not None and not database_error.startswith("unreachable"):
        deals, runs = 0, 0  # no schema yet (a zero-byte file, an empty database)
    else:
        return []
    why = earlier_activity(deals=deals, earlier_runs=runs,
                           budget_known=bool(budget.get("known")),
                           balance=budget.get("projected"), cap=budget.get("cap"))
    if why is not None:
        out.append(why)
    if store is not None:
        out += recorded(store, queries, now)
    return out


__all__ = ["LOW_BALANCE_SHARE", "SHOWN_FOR", "earlier_activity", "findings", "record",
           "recorded", "store_is_new"]
