"""The catalog: the product universe and the deal feed that grows over time.

Deal events happen on a jittered grid, one per ``event_interval_s`` of clock
time on average: event ``k`` happens at ``start + k·interval + jitter_k``
(``0 ≤ jitter_k < interval``) and lowers one or two current prices of one
product, drawn from the seed.  Events with negative ``k`` are the backlog,
present from the start.  Everything is a function of (seed, k), so two
catalogs with the same configuration and start agree event for event.

At time ``t`` a product's state is set by its latest event at or before ``t``
(a later event replaces an earlier one; prices the latest event did not
lower are back to normal).  The deal feed for a price type holds the
products whose latest event is within the last ``deal_window_s`` (12 h) and
lowered that price type; a deal's ``lastUpdate`` is its event's time.
"""

from __future__ import annotations

import bisect
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from keepa_deals.sandbox.marketplaces import MARKETPLACES
from keepa_deals.sandbox.universe import ProductSpec, build_universe

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    seed: int = 0
    size: int = 3000
    #: Mean clock time between deal events.
    event_interval_s: float = 20.0
    #: Clock time of events already present at start (the backlog).
    backlog_s: float = 3600.0
    #: How long a deal stays in the feed after its event.
    deal_window_s: float = 12 * 3600.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("the catalog needs at least one product")
        if self.event_interval_s <= 0:
            raise ValueError("event_interval_s must be positive")
        if self.backlog_s < 0 or self.deal_window_s <= 0:
            raise ValueError("backlog_s must be >= 0 and deal_window_s > 0")


@dataclass(frozen=True, slots=True)
class DealEvent:
    k: int
    time_ms: int
    product: int
    #: csv type → fraction by which the normal price drops (0 < f < 1).
    drops: tuple[tuple[int, float], ...]
    #: The csv types of ``drops``: asked of every event in the window by each ``/deal`` page.
    lowered: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lowered", frozenset(t for t, _ in self.drops))

    def lowers(self, csv_type: int) -> bool:
        return csv_type in self.lowered


@dataclass(frozen=True, slots=True)
class ProductState:
    """A product at one instant: its spec, its latest event, its current values."""

    spec: ProductSpec
    event: DealEvent | None
    current: tuple[int, ...]

    @property
    def asin(self) -> str:
        return self.spec.asin

    def lowered(self, csv_type: int) -> bool:
        return self.event is not None and self.event.lowers(csv_type)


class Catalog:
    """The products and deal events of one sandbox; thread-safe."""

    def __init__(self, config: CatalogConfig | None = None, *, start_ms: int, domain: int = 1) -> None:
        self.config = config or CatalogConfig()
        self.start_ms = int(start_ms)
        self.domain = domain
        self.market = MARKETPLACES[domain]
        self.products = build_universe(self.config.seed, self.config.size, self.start_ms, domain)
        self._by_asin = {p.asin: p for p in self.products}
        self._by_code: dict[str, list[ProductSpec]] = {}
        for p in self.products:
            self._by_code.setdefault(p.ean, []).append(p)
        self._rng_prefix = f"keepa-sandbox:{self.config.seed}:" + ("" if domain == 1 else f"{domain}:")
        self._interval_ms = self.config.event_interval_s * 1000.0
        self._first_k = -int(self.config.backlog_s * 1000.0 // self._interval_ms)
        self._lock = threading.Lock()
        self._events: list[DealEvent] = []
        self._times: list[int] = []
        self._by_product: dict[int, list[DealEvent]] = {}
        #: A product as an event left it, by the event's ``k``: every ``/deal`` page walks
        #: the window's events, and a state never changes once made.
        self._states: dict[int, ProductState] = {}
        self._next_k = self._first_k
        self._pending = self._make_event(self._first_k)

    def __repr__(self) -> str:
        return f"Catalog(seed={self.config.seed}, domain={self.domain}, products={len(self.products)})"

    # --- events ----------------------------------------------------------
    def _make_event(self, k: int) -> DealEvent:
        rng = random.Random(f"{self._rng_prefix}event:{k}")
        t = self.start_ms + int(k * self._interval_ms + rng.random() * self._interval_ms)
        spec = self.products[rng.randrange(len(self.products))]
        types = spec.deal_types()
        primary = rng.choice(types)
        drops = {primary: round(rng.uniform(0.05, 0.7), 3)}
        others = [x for x in types if x != primary]
        if others and rng.random() < 0.3:
            drops[rng.choice(others)] = round(rng.uniform(0.05, 0.4), 3)
        return DealEvent(k=k, time_ms=t, product=spec.index, drops=tuple(sorted(drops.items())))

    def _advance(self, now_ms: int) -> None:
        with self._lock:
            while self._pending.time_ms <= now_ms:
                ev = self._pending
                self._events.append(ev)
                self._times.append(ev.time_ms)
                self._by_product.setdefault(ev.product, []).append(ev)
                self._next_k += 1
                self._pending = self._make_event(self._next_k)

    def events(self, now_ms: int, *, since_ms: int | None = None) -> list[DealEvent]:
        """The events in ``(since_ms, now_ms]`` (all of them without ``since_ms``), oldest first."""
        self._advance(now_ms)
        with self._lock:
            hi = bisect.bisect_right(self._times, now_ms)
            lo = 0 if since_ms is None else bisect.bisect_right(self._times, since_ms)
            return self._events[lo:hi]

    def _latest_event(self, product: int, now_ms: int) -> DealEvent | None:
        with self._lock:
            evs = self._by_product.get(product)
            if not evs:
                return None
            i = bisect.bisect_right([e.time_ms for e in evs], now_ms)
            return evs[i - 1] if i else None

    # --- products ----------------------------------------------------------
    def _state(self, spec: ProductSpec, event: DealEvent | None) -> ProductState:
        if event is not None and (known := self._states.get(event.k)) is not None:
            return known
        current = list(spec.normal)
        if event is not None:
            for t, f in event.drops:
                current[t] = max(1, round(spec.normal[t] * (1 - f)))
        state = ProductState(spec=spec, event=event, current=tuple(current))
        if event is not None:
            self._states[event.k] = state  # one dict store: safe beside other threads
        return state

    def spec(self, asin: str) -> ProductSpec | None:
        return self._by_asin.get(asin)

    def specs_by_code(self, ean13: str) -> list[ProductSpec]:
        """The products listed under an EAN-13 (a UPC as ``0`` + UPC): several for duplicate listings."""
        return list(self._by_code.get(ean13, ()))

    def state(self, asin: str, now_ms: int) -> ProductState | None:
        """The product ``asin`` as it is at ``now_ms``, or None if unknown."""
        spec = self._by_asin.get(asin)
        if spec is None:
            return None
        self._advance(now_ms)
        return self._state(spec, self._latest_event(spec.index, now_ms))

    def feed(self, now_ms: int, price_type: int) -> list[ProductState]:
        """Deals for ``price_type`` at ``now_ms``: products whose latest event is
        in the deal window and lowered that price type, newest first."""
        window_start = now_ms - int(self.config.deal_window_s * 1000)
        seen: set[int] = set()
        out: list[ProductState] = []
        for ev in reversed(self.events(now_ms, since_ms=window_start)):
            if ev.product in seen:
                continue
            seen.add(ev.product)
            if ev.lowers(price_type):
                out.append(self._state(self.products[ev.product], ev))
        return out

    def summary(self, now_ms: int) -> dict[str, Any]:
        window_start = now_ms - int(self.config.deal_window_s * 1000)
        in_window = {e.product for e in self.events(now_ms, since_ms=window_start)}
        return {
            "seed": self.config.seed,
            "domain": self.domain,
            "products": len(self.products),
            "event_interval_s": self.config.event_interval_s,
            "backlog_s": self.config.backlog_s,
            "deal_window_s": self.config.deal_window_s,
            "start_ms": self.start_ms,
            "events": len(self.events(now_ms)),
            "products_in_feed": len(in_window),
        }
