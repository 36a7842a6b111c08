"""Sources of listed products: Product Finder, best-seller lists, ASIN and barcode files.

Each yields :class:`~keepa_deals.ingest.source.Found` chunks of candidates
(stage ``stats``, no feed data) with its own progress as ``state``, committed
with them; the pipeline does not buy a listed product again within the
re-check window, stored or rejected (``Found.listed``).

* :class:`FinderSource` pages a Product Finder selection (10 tokens + 1 per 100
  ASINs): ``pages_per_run`` pages per run from a cursor, so each run resumes
  where the last ended; a sweep that reached the last page restarts from page
  0 ``sweep_every_h`` after it began.
* :class:`BestSellersSource` reads a best-seller list (50 tokens) at most once
  per ``every_h`` and works through it in slices of 100.
* :class:`ListSource` works through an ASIN/barcode file, ``per_run`` entries
  per run from a cursor that wraps around; barcodes are resolved once
  (``/product?code=`` with ``code-limit``) and cached in the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from keepa_deals.ingest.ledger import Candidate
from keepa_deals.ingest.paid import save_paid
from keepa_deals.ingest.source import Found, Meter, Start
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.lookups import FinderPage
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.query import DealQuery
from keepa_deals.query.lists import read_list
from keepa_deals.query.sources import BestSellersSpec, FinderSpec, ListSpec
from keepa_deals.store import DealStore
from keepa_deals.tokens import costs

log = logging.getLogger("keepa_deals.ingest")

#: Candidates per chunk of a list (one product call's worth).
CHUNK = 100
#: The cache kind of barcodes (code → the ASINs it matched, as JSON).
CODE_CACHE = "code"
HOUR_MS = 3_600_000


def state_key(kind: str, *identity: Any) -> str:
    """A source's state key, from what the source is (a changed selection starts anew)."""
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode())
    return f"source.{kind}.{digest.hexdigest()[:12]}"


def _state(start: Start, key: str) -> dict[str, Any]:
    text = start.state(key)
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        raw = {}
    return raw if isinstance(raw, dict) else {}


def _candidates(asins: Sequence[str], now_ms: int) -> tuple[Candidate, ...]:
    minute = unix_ms_to_keepa_minutes(now_ms)
    return tuple(Candidate(a, minute, "stats", now_ms) for a in dict.fromkeys(asins))


class FinderSource:
    """A Product Finder selection, ``pages_per_run`` pages per run from a cursor."""

    def __init__(self, client: KeepaClient, query: DealQuery, spec: FinderSpec, *,
                 now_ms: Callable[[], int]) -> None:
        self.client, self.query, self.spec, self.now_ms = client, query, spec, now_ms
        self.name = "product finder"
        self.key = state_key("finder", query.domain_id, spec.selection, spec.per_page)

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        spec = self.spec
        cur = _state(start, self.key)
        now = self.now_ms()
        page = int(cur.get("page", 0))
        sweep = cur.get("sweep_ms")
        if cur.get("done"):
            if sweep is not None and now - int(sweep) < spec.sweep_every_h * HOUR_MS:
                return  # the sweep is complete; the next one starts on schedule
            page, sweep = 0, None
        if sweep is None:
            sweep = now
        for _ in range(spec.pages_per_run):
            meter.checkpoint()
            result: FinderPage = self.client.finder(
                spec.selection, domain=self.query.domain_id, page=page, per_page=spec.per_page)
            meter.paid(result.status.tokens_consumed if result.status
                       else costs.estimate_query_cost(spec.per_page), pages=1)
            last = result.is_last or (page + 1) * spec.per_page >= costs.QUERY_MAX_PER_PAGE
            mark = {"page": 0 if last else page + 1, "sweep_ms": sweep, "done": last,
                    "total": result.total_results}
            yield Found(_candidates(result.asins, self.now_ms()), (), None,
                        state={self.key: json.dumps(mark)}, listed=True)
            if last:
                return
            page += 1

    def incomplete(self) -> str | None:
        return None


class BestSellersSource:
    """A best-seller list, read at most once per ``every_h``, worked through 100 at a time."""

    def __init__(self, client: KeepaClient, query: DealQuery, spec: BestSellersSpec,
                 category: int | str, *, now_ms: Callable[[], int]) -> None:
        self.client, self.query, self.spec, self.now_ms = client, query, spec, now_ms
        self.category = category
        self.name = "best sellers"
        self.key = state_key("bestsellers", query.domain_id, category, spec.range)

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        spec = self.spec
        cur = _state(start, self.key)
        now = self.now_ms()
        asins = [a for a in cur.get("asins", []) if isinstance(a, str)]
        offset = int(cur.get("offset", 0))
        fetched = cur.get("fetched_ms")
        if fetched is None or now - int(fetched) >= spec.every_h * HOUR_MS:
            meter.checkpoint()
            result = self.client.best_sellers(self.category, domain=self.query.domain_id,
                                              range_days=spec.range)
            meter.paid(result.status.tokens_consumed if result.status
                       else costs.BESTSELLERS_COST, pages=1)
            asins, offset, fetched = list(result.asins[:spec.max_asins]), 0, now
            if not asins:
                log.warning("query %s: Keepa has no best-seller list for category %s",
                            self.query.name, self.category)
        while True:
            chunk = asins[offset:offset + CHUNK]
            offset += len(chunk)
            mark = {"asins": asins, "offset": offset, "fetched_ms": fetched}
            yield Found(_candidates(chunk, self.now_ms()), (), None,
                        state={self.key: json.dumps(mark)}, listed=True)
            if not chunk or offset >= len(asins):
                return

    def incomplete(self) -> str | None:
        return None


class ListSource:
    """An ASIN/barcode file: ``per_run`` entries per run from a cursor that wraps around."""

    def __init__(self, client: KeepaClient, store: DealStore, query: DealQuery, spec: ListSpec,
                 *, now_ms: Callable[[], int], save_patience_s: float) -> None:
        self.client, self.store, self.query, self.spec = client, store, query, spec
        self.now_ms = now_ms
        self.save_patience_s = save_patience_s
        self.name = "list file"
        self.key = state_key("list", query.domain_id, spec.path, spec.column)

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        entries = read_list(self.spec.path, column=self.spec.column)
        if not entries:
            return
        cur = _state(start, self.key)
        offset = int(cur.get("offset", 0))
        if offset >= len(entries):
            offset = 0
        todo = entries[offset:offset + self.spec.per_run]
        for i in range(0, len(todo), CHUNK):
            chunk = todo[i:i + CHUNK]
            asins = [e.value for e in chunk if e.kind == "asin"]
            codes = [e.value for e in chunk if e.kind == "code"]
            if codes:
                asins.extend(self._resolve(codes, meter))
            offset += len(chunk)
            mark = {"offset": offset % len(entries)}
            yield Found(_candidates(asins, self.now_ms()), (), None,
                        state={self.key: json.dumps(mark)}, listed=True)

    def _resolve(self, codes: list[str], meter: Meter) -> list[str]:
        """The ASINs of ``codes``: from the store's cache, the rest bought (with
        ``code-limit``) and cached at once (paid-for answers are saved first)."""
        domain = self.query.domain_id
        cached = self.store.cache_read(CODE_CACHE, domain, codes)
        found: dict[str, list[str]] = {c: json.loads(v.text) for c, v in cached.items()}
        missing = [c for c in codes if c not in found]
        for i in range(0, len(missing), CHUNK):
            batch = missing[i:i + CHUNK]
            meter.checkpoint()
            reply = self.client.products_by_code(batch, domain=domain,
                                                 code_limit=self.spec.code_limit)
            meter.paid(reply.status.tokens_consumed if reply.status else costs.estimate_code_cost(
                len(batch), self.spec.code_limit))
            matched: dict[str, list[str]] = {c: [] for c in batch}
            for product in reply:
                for code in _codes_of(product.raw):
                    if code in matched and product.asin not in matched[code]:
                        matched[code].append(product.asin)
            answers = {c: json.dumps(a) for c, a in matched.items()}
            save_paid(lambda: self.store.cache_write(CODE_CACHE, domain, answers),
                      what=f"query {self.query.name}: {len(batch)} barcodes",
                      patience_s=self.save_patience_s)
            for code, asins in matched.items():
                if not asins:
                    log.warning("query %s: %s: Keepa knows no product with barcode %s",
                                self.query.name, self.spec.path, code)
            found.update(matched)
        return [a for c in codes for a in found.get(c, [])]

    def incomplete(self) -> str | None:
        return None


def _codes_of(raw: Any) -> list[str]:
    """The barcodes a product reply lists (``eanList``, ``upcList``), as 13 and 12 digits."""
    out: list[str] = []
    for key in ("eanList", "upcList"):
        values = raw.get(key) if hasattr(raw, "get") else None
        if isinstance(values, list):
            for v in values:
                if isinstance(v, str | int):
                    code = str(v)
                    out.append(code)
                    if len(code) == 13 and code.startswith("0"):
                        out.append(code[1:])  # an EAN-13 with a leading 0 is a UPC-A
                    elif len(code) == 12:
                        out.append("0" + code)
    return out


def check_listed(spec: Any) -> None:
    """What a listed source can check without Keepa (the list file)."""
    if isinstance(spec, ListSpec):
        read_list(spec.path, column=spec.column)


__all__ = ["BestSellersSource", "FinderSource", "ListSource", "check_listed", "state_key"]
