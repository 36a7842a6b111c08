"""A lost reply is paid for once more at most (docs/failure-classes.md, FC-26).

Against the sandbox Keepa server over real HTTP, with the real budget (a
TokenManager on an SQLite store, on the sandbox's clock): the sandbox runs and
charges a /product call, then holds its reply back past the client's timeout.
The client settles that lease as spent (Keepa may have charged it) before it
sends the call once more, through a new lease; a second loss is raised, never
sent a third time.  After the next status from Keepa the budget's balance is
Keepa's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keepa_deals.budget.core import Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.sqlite_store import SqliteStore
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.errors import KeepaTimeout
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.sandbox.offers import all_offers
from keepa_deals.tokens.protocol import Lease
from keepa_deals.tokens.status import TokenStatus
from tests.keepa.conftest import SANDBOX_KEY

SandboxHTTP = Callable[..., KeepaHTTP]

TIMEOUT_S = 0.4
SLOW_REPLY_MS = 1_500  # charged, then held back well past the timeout
COST = 12  # one ASIN with 20 offers, more than ten found: 6 × 2


@dataclass
class Spy:
    """What the budget saw between the calls: each settle, and the balance it then planned on."""

    settles: list[tuple[Lease, TokenStatus | None, int | None, int]] = field(default_factory=list)


class WatchedManager(TokenManager):
    """A TokenManager that records each settle, the projection after it and Keepa's balance."""

    def __init__(self, *args: Any, spy: Spy, keepa: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spy, self.keepa = spy, keepa

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        super().settle(lease, status)
        real = self.keepa.sandbox.account(SANDBOX_KEY).tokens
        self.spy.settles.append((lease, status, self.snapshot().projected, real))


@pytest.fixture
def rig(sandbox_server: Any, sandbox_http: SandboxHTTP,
        tmp_path: Path) -> Iterator[tuple[KeepaClient, WatchedManager, Spy, str]]:
    sandbox = sandbox_server.sandbox
    now = sandbox.now_ms()
    asin = next(p.asin for p in sandbox.catalog.products
                if len(all_offers(sandbox.catalog.state(p.asin, now),
                                  sandbox.catalog.config.seed)) > 10)
    http = sandbox_http(timeout_s=TIMEOUT_S, retries=2)
    spy = Spy()
    manager = WatchedManager(SqliteStore(tmp_path / "budget.sqlite3", clock=sandbox.clock),
                             policy=Policy(), sync=http.token_status, clock=sandbox.clock,
                             spy=spy, keepa=sandbox_server)
    manager.sync_tokens(force=True)
    yield KeepaClient(http, manager), manager, spy, asin
    manager.close()


def test_a_paid_reply_lost_once_is_bought_once_more_and_the_budget_agrees_with_keepa(
        rig: tuple[KeepaClient, WatchedManager, Spy, str], sandbox_server: Any) -> None:
    client, manager, spy, asin = rig
    sandbox = sandbox_server.sandbox
    sandbox.set_faults(slow_reply_rate=1.0, slow_reply_ms=SLOW_REPLY_MS, endpoints=("product",),
                       limit=1)
    batch = client.products([asin], offers=20)
    assert [p.asin for p in batch.products] == [asin]

    account = sandbox.account(SANDBOX_KEY)
    assert account.requests_to("product") == 2, "the lost reply was bought once more, once"
    assert account.tokens == 300 - 2 * COST, "Keepa charged both"
    (lost, lost_status, after_loss, real_then), (_, status, after, real) = spy.settles
    assert lost_status is None
    assert after_loss is not None and after_loss <= real_then, (
        "the lost call's cost was counted before the call went out again")
    assert status is not None and status.tokens_left == real
    snap = manager.snapshot()
    assert (snap.tokens, snap.projected, snap.leases) == (account.tokens, account.tokens, ())


def test_a_reply_lost_twice_is_raised_and_never_sent_a_third_time(
        rig: tuple[KeepaClient, WatchedManager, Spy, str], sandbox_server: Any) -> None:
    client, manager, spy, asin = rig
    sandbox = sandbox_server.sandbox
    sandbox.set_faults(slow_reply_rate=1.0, slow_reply_ms=SLOW_REPLY_MS, endpoints=("product",))
    with pytest.raises(KeepaTimeout) as info:
        client.products([asin], offers=20)
    assert info.value.sent
    sandbox.clear_faults()
    account = sandbox.account(SANDBOX_KEY)
    assert account.requests_to("product") == 2, "sent twice, never three times"
    assert [s[1] for s in spy.settles] == [None, None]
    snap = manager.snapshot()
    assert snap.projected is not None and snap.projected <= account.tokens, (
        "both possible charges are counted")

    client.token_status()  # Keepa's next status tells the truth
    snap = manager.snapshot()
    assert (snap.tokens, snap.projected) == (account.tokens, account.tokens) == (
        300 - 2 * COST, 300 - 2 * COST)


def test_a_paid_5xx_is_settled_with_its_status_then_bought_once_more(
        rig: tuple[KeepaClient, WatchedManager, Spy, str], sandbox_server: Any) -> None:
    """A 5xx carries Keepa's status: the budget settles on it, then the call goes out again."""
    client, manager, spy, asin = rig
    sandbox = sandbox_server.sandbox
    sandbox.set_faults(error_rates={503: 1.0}, endpoints=("product",), limit=1)
    client.products([asin], offers=20)  # a 503 (paid: not retried by the wire), then re-sent
    account = sandbox.account(SANDBOX_KEY)
    assert account.requests_to("product", 503) == 1 and account.requests_to("product", 200) == 1
    assert manager.snapshot().projected == account.tokens == 300 - COST
