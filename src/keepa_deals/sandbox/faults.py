"""Fault injection: what can go wrong between a Keepa client and Keepa.

A :class:`FaultConfig` says which faults happen and how often; :class:`Faults`
draws them from its own ``random.Random(seed)``, so a sequence of requests
meets the same faults on every run.  A probability of 0 never draws and 1
always fires without drawing, so adding a certain (or absent) fault does not
shift the draws of the others.

Faults, in the order a request meets them:

* ``html_rate``: a non-JSON body (a proxy's HTML error page, status
  ``html_status``), nothing charged;
* ``error_rates``: ``{status: probability}``, an error envelope with that
  status (429 gives the bare token envelope), nothing charged;
* ``latency_ms``: a delay between admission and charge, fixed or ``[lo, hi]``,
  optionally only for ``/product`` requests with ``offers``;
* ``offer_fetch_failure_rate``: per product, the offer fetch fails: 1 token,
  no offers, ``offersSuccessful: false``, HTTP 200;
* ``truncate_rate``: the body (already charged) is cut in half;
* ``zero_token_fields_rate``: an error reply (not 200, not 429) carries all-zero
  token fields;
* ``reported_refill_rate`` (with ``reported_refill_rate_rate``): responses
  report this ``refillRate`` while the account refills at its real one (a
  transient blip).  A real plan change is made on the account instead.

``limit`` caps how many failures (HTML pages, injected errors, truncations,
failed offer fetches) are injected in all; ``endpoints`` restricts every fault
to some of ``token``, ``deal`` and ``product``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENDPOINTS = ("token", "deal", "product", "query", "bestsellers", "seller", "category", "search")


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    endpoints: tuple[str, ...] | None = None
    error_rates: dict[int, float] = Field(default_factory=dict)
    html_rate: float = Field(default=0.0, ge=0, le=1)
    html_status: int = Field(default=503, ge=200, le=599)
    latency_ms: tuple[int, int] = (0, 0)
    latency_offers_only: bool = False
    truncate_rate: float = Field(default=0.0, ge=0, le=1)
    zero_token_fields_rate: float = Field(default=0.0, ge=0, le=1)
    offer_fetch_failure_rate: float = Field(default=0.0, ge=0, le=1)
    reported_refill_rate: int | None = Field(default=None, ge=0)
    reported_refill_rate_rate: float = Field(default=1.0, ge=0, le=1)
    limit: int | None = Field(default=None, ge=0)

    @field_validator("latency_ms", mode="before")
    @classmethod
    def _latency(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return (int(v), int(v))
        return v

    @field_validator("latency_ms")
    @classmethod
    def _latency_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if lo < 0 or hi < lo:
            raise ValueError("latency_ms must be a delay >= 0 or a range [lo, hi] with lo <= hi")
        return v

    @field_validator("error_rates")
    @classmethod
    def _rates(cls, v: dict[int, float]) -> dict[int, float]:
        for status, p in v.items():
            if not 400 <= status <= 599:
                raise ValueError(f"error_rates: {status} is not an error status")
            if not 0 <= p <= 1:
                raise ValueError(f"error_rates: probability {p} for {status} is not in [0, 1]")
        return v

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            unknown = set(v) - set(ENDPOINTS)
            if unknown:
                raise ValueError(f"endpoints: unknown {sorted(unknown)}; use {ENDPOINTS}")
        return v


class Faults:
    """Draws the faults of one request at a time from a seeded generator."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; the generator restarts from its seed."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._failures = 0
            self.injected: Counter[str] = Counter()

    @property
    def config(self) -> FaultConfig:
        return self._config

    def _applies(self, endpoint: str) -> bool:
        eps = self._config.endpoints
        return eps is None or endpoint in eps

    def _fires(self, p: float) -> bool:
        if p <= 0:
            return False
        return p >= 1 or self._rng.random() < p

    def _may_fail(self) -> bool:
        limit = self._config.limit
        return limit is None or self._failures < limit

    def _failure(self, kind: str) -> None:
        self._failures += 1
        self.injected[kind] += 1

    def html_page(self, endpoint: str) -> int | None:
        """The status of an HTML error page to send instead of JSON, or None."""
        with self._lock:
            c = self._config
            if self._applies(endpoint) and self._may_fail() and self._fires(c.html_rate):
                self._failure("html")
                return c.html_status
            return None

    def error_status(self, endpoint: str) -> int | None:
        """An injected error status for this request, or None."""
        with self._lock:
            if not self._applies(endpoint):
                return None
            for status, p in sorted(self._config.error_rates.items()):
                if self._may_fail() and self._fires(p):
                    self._failure(f"status_{status}")
                    return status
            return None

    def latency_s(self, endpoint: str, *, offers: bool) -> float:
        with self._lock:
            c = self._config
            lo, hi = c.latency_ms
            if hi <= 0 or not self._applies(endpoint) or (c.latency_offers_only and not offers):
                return 0.0
            ms = lo if lo == hi else self._rng.uniform(lo, hi)
            self.injected["latency"] += 1
            return ms / 1000.0

    def offer_fetch_fails(self) -> bool:
        with self._lock:
            if self._may_fail() and self._fires(self._config.offer_fetch_failure_rate):
                self._failure("offer_fetch")
                return True
            return False

    def truncate(self, endpoint: str) -> bool:
        with self._lock:
            if self._applies(endpoint) and self._may_fail() and self._fires(self._config.truncate_rate):
                self._failure("truncate")
                return True
            return False

    def zero_token_fields(self, endpoint: str) -> bool:
        with self._lock:
            if self._applies(endpoint) and self._fires(self._config.zero_token_fields_rate):
                self.injected["zero_token_fields"] += 1
                return True
            return False

    def reported_refill_rate(self, endpoint: str) -> int | None:
        with self._lock:
            c = self._config
            if c.reported_refill_rate is None or not self._applies(endpoint):
                return None
            if self._fires(c.reported_refill_rate_rate):
                self.injected["reported_refill_rate"] += 1
                return c.reported_refill_rate
            return None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self._config.model_dump(mode="json"),
                "injected": dict(self.injected),
            }
