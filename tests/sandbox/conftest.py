"""Fixtures of the sandbox tests: a sandbox on a fake clock, served over real HTTP.

One server serves the whole session (starting and stopping uvicorn takes
time); each test gets a fresh sandbox swapped into it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer

#: A key the tests give an account (64 × [a-z0-9], like Keepa's).
KEY = "sandboxtestkey" + "4" * 50
#: Well-formed, but no account.
UNKNOWN_KEY = "u" * 64
#: Refills at t % 60000 == PHASE.
PHASE = 12_000
START_MS = 1_800_000_000_000  # a multiple of 60 000: the clock starts on a minute


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """The default catalog (with its one-hour backlog), and KEY: 100 tokens at 5/min."""
    sb = Sandbox(clock=clock, catalog=CatalogConfig(seed=7))
    sb.add_account(KEY, tokens=100, refill_rate=5, phase_ms=PHASE)
    return sb


@pytest.fixture(scope="session")
def _shared_client(_sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=_sandbox_server.url, timeout=10) as c:
        yield c


@pytest.fixture
def client(server: SandboxServer, _shared_client: httpx.Client) -> httpx.Client:
    """An HTTP client of the session's server (building one per test is slow)."""
    return _shared_client
