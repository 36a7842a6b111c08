"""Fixtures for the Keepa client tests: a recording budget and MockTransport helpers."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.tokens.protocol import Lease
from keepa_deals.tokens.status import TokenStatus

#: A key shaped like a real one, distinctive enough to grep for.
MOCK_KEY = "mocksecretkey" + "q" * 51

ENVELOPE: dict[str, Any] = {
    "timestamp": 1_767_225_600_000,
    "tokensLeft": 120,
    "refillIn": 42_000,
    "refillRate": 20,
    "tokenFlowReduction": 0.0,
    "tokensConsumed": 0,
    "processingTimeInMs": 3,
}
ZERO_ENVELOPE = {k: 0 for k in ENVELOPE}


def envelope(**changes: Any) -> dict[str, Any]:
    return {**ENVELOPE, **changes}


def error_body(type_: str, message: str, *, zero: bool = False, **changes: Any) -> dict[str, Any]:
    base = dict(ZERO_ENVELOPE) if zero else envelope(**changes)
    return {**base, "error": {"type": type_, "message": message, "details": ""}}


def json_reply(status: int, body: Any, *, gzipped: bool = True) -> httpx.Response:
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if gzipped:
        data = gzip.compress(data)
        headers["content-encoding"] = "gzip"
    return httpx.Response(status, stream=httpx.ByteStream(data), headers=headers)


@dataclass
class Recorder:
    """A MockTransport handler that answers from a script and records requests."""

    replies: list[httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        return step


@dataclass
class Sleeps:
    """The backoff sleeps a KeepaHTTP asked for (nothing actually waits)."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def mock_http(sleeps: Sleeps) -> Iterator[Callable[..., tuple[KeepaHTTP, Recorder]]]:
    """``mock_http(reply, ...)`` → (KeepaHTTP over a MockTransport, the recorder)."""
    made: list[KeepaHTTP] = []

    def make(*replies: Any, retries: int = 2, **kwargs: Any) -> tuple[KeepaHTTP, Recorder]:
        rec = Recorder(list(replies))
        http = KeepaHTTP(MOCK_KEY, base_url="http://keepa.test", retries=retries, sleep=sleeps,
                         transport=httpx.MockTransport(rec), **kwargs)
        made.append(http)
        return http, rec

    yield make
    for http in made:
        http.close()


@dataclass
class RecordingBudget:
    """A TokenBudget that grants everything and records what it was asked."""

    events: list[tuple[str, Any, Any]] = field(default_factory=list)
    fail_acquire: Exception | None = None
    fail_settle: Exception | None = None
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def acquire(self, cost: int, *, max_wait_s: float | None = None) -> Lease:
        self.events.append(("acquire", cost, max_wait_s))
        if self.fail_acquire is not None:
            raise self.fail_acquire
        return Lease(id=f"lease-{next(self._ids)}", cost=cost, expires_ms=0)

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        self.events.append(("settle", lease, status))
        if self.fail_settle is not None:
            raise self.fail_settle

    def observe(self, status: TokenStatus) -> None:
        self.events.append(("observe", status, None))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


@pytest.fixture
def budget() -> RecordingBudget:
    return RecordingBudget()


# --- the sandbox over real HTTP --------------------------------------------------------

#: Keys of sandbox accounts the tests create (64 × [a-z0-9], like Keepa's).
SANDBOX_KEY = "sandboxsecretkey" + "7" * 48
UNKNOWN_KEY = "nosuchaccount" + "0" * 51


@pytest.fixture
def sandbox_server() -> Iterator[Any]:
    """A sandbox on a free port with a fake clock and an account for SANDBOX_KEY."""
    from keepa_deals.clock import FakeClock
    from keepa_deals.sandbox import Sandbox, SandboxServer

    sandbox = Sandbox(clock=FakeClock())
    sandbox.add_account(SANDBOX_KEY, tokens=300, refill_rate=5)
    with SandboxServer(sandbox) as server:
        yield server


@pytest.fixture
def sandbox_http(sandbox_server: Any, sleeps: Sleeps) -> Iterator[Callable[..., KeepaHTTP]]:
    """``sandbox_http(key=SANDBOX_KEY, **kwargs)`` → a KeepaHTTP talking to the sandbox."""
    made: list[KeepaHTTP] = []

    def make(key: str = SANDBOX_KEY, **kwargs: Any) -> KeepaHTTP:
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("retries", 2)
        kwargs.setdefault("timeout_s", 10.0)
        http = KeepaHTTP(key, base_url=sandbox_server.url, **kwargs)
        made.append(http)
        return http

    yield make
    for http in made:
        http.close()
