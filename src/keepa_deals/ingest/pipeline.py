"""The embedded run of one query: a source, the stages, and the sink, each paid call saved first.

0. **scan**: the source (the deal feed, feed.py) yields candidates page by
   page; each page's candidates go into the ledger and are committed with the
   source's mark (watermark, segments).
1. **product check** (stages.check_stats): stats only, up to 100 per call.
2. **offers** (stages.check_offers): the survivors only, when the query buys
   offers (20 per call).
3. **refresh** (stages.recheck): stored deals, least recently re-checked first.

Per paid call: the batch is sized from the budget (plan.py), the call is
made through the client (:func:`buy_products`), the stage evaluates the reply
into a :class:`~keepa_deals.ingest.stages.StageResult`, the result is booked
in the ledger and the report, and the sink commits deals, retirements, the
watermark and the ledger in ONE transaction (``DealStore.commit``) before
the next call is planned.  Stages 1 and 2 read their work from the ledger,
so a run that stops (no tokens, a signal, a crash) leaves the rest for the
next run, paid-for verdicts included.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from keepa_deals.budget.core import Snapshot
from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.feed import DealFeedSource
from keepa_deals.ingest.ledger import LATE_MINUTES, Candidate, Ledger, LedgerError
from keepa_deals.ingest.memory import ListedMemory
from keepa_deals.ingest.paid import buy_products, save_paid
from keepa_deals.ingest.plan import Affordable, batch_size, call_limit, unit_cost
from keepa_deals.ingest.progress import ProgressEvent, ProgressSink
from keepa_deals.ingest.report import IngestReport, RefreshCapacity
from keepa_deals.ingest.sellers import rate_sellers
from keepa_deals.ingest.categories import name_categories, resolve_category
from keepa_deals.ingest.listed import BestSellersSource, FinderSource, ListSource, check_listed
from keepa_deals.ingest.source import Combined, Found, Source, Start
from keepa_deals.ingest.stages import StageResult, check_offers, check_stats, recheck
from keepa_deals.keepa.products import ProductBatch
from keepa_deals.keepa.time import datetime_to_keepa_minutes
from keepa_deals.query import DealQuery
from keepa_deals.query.sources import BestSellersSpec, FeedSpec, FinderSpec
from keepa_deals.store import Changes, Committed
from keepa_deals.store.state import (
    LEDGER_KEY,
    LISTED_KEY,
    REFRESH_CAPACITY_KEY,
    REFRESH_COVERED_KEY,
    RUN_SPENT_KEY,
    RunSpent,
)
from keepa_deals.tokens.errors import BudgetError

log = logging.getLogger("keepa_deals.ingest")
T = TypeVar("T")

#: The refresh may plan on this share of the refill; the rest is for new deals.
REFRESH_SHARE = 0.5


class LockLost(KeepaDealsError):
    """The run's lock expired and could not be renewed; another runner may hold it."""


def log_result(query: str, result: StageResult) -> None:
    """What a stage set aside, in the log (once per product)."""
    for m in result.malformed:
        if m.asin:
            log.warning("query %s: %s: %s", query, m.asin, m.reason)
        else:
            log.warning("query %s: a product of a /product reply could not be read: %s",
                        query, m.reason)
    if result.retry:
        log.info("query %s: Keepa could not fetch the offers of %d products; they wait for "
                 "the next run", query, len(result.retry))


def source_for(env: IngestEnv, query: DealQuery, *, max_pages: int) -> Source:
    """The source a query's run reads its candidates from (the one place a source is
    chosen: a new source is a module implementing :class:`Source` and a line here).
    Category names are resolved here, before the walk spends a token (a name not in the
    category cache costs the one category search that resolves it)."""
    now_ms = env.clock.now_ms
    sources: list[Source] = []
    for spec in sorted(query.sources, key=lambda s: not isinstance(s, FeedSpec)):
        if isinstance(spec, FeedSpec):
            sources.append(DealFeedSource(env.client, query, max_pages=max_pages, now_ms=now_ms))
        elif isinstance(spec, FinderSpec):
            sources.append(FinderSource(env.client, query, _finder_named(env, query, spec),
                                        now_ms=now_ms))
        elif isinstance(spec, BestSellersSpec):
            category = spec.category if spec.category is not None else resolve_category(
                env.client, env.store, query.domain_id, spec.category_name or "",
                where=spec.where)
            sources.append(BestSellersSource(env.client, query, spec, category, now_ms=now_ms))
        else:
            sources.append(ListSource(env.client, env.store, query, spec, now_ms=now_ms,
                                      save_patience_s=env.settings.save_patience_s))
    return sources[0] if len(sources) == 1 else Combined(sources)


def _finder_named(env: IngestEnv, query: DealQuery, spec: FinderSpec) -> FinderSpec:
    if not spec.category_names:
        return spec
    ids = [resolve_category(env.client, env.store, query.domain_id, name, where=spec.where)
           for name in spec.category_names]
    known = spec.selection.get("categories_include") or []
    selection = {**spec.selection, "categories_include": list(dict.fromkeys([*known, *ids]))}
    return spec.model_copy(update={"selection": selection, "category_names": None})


def check_queries(queries: Sequence[DealQuery]) -> None:
    """Every query's sources can walk it: raises ConfigError naming the query (or the file
    and line) otherwise.  Run before the first token of a run is spent
    (docs/failure-classes.md, FC-24)."""
    for query in queries:
        if query.reads_feed:
            DealFeedSource.check(query)
        for spec in query.sources:
            check_listed(spec)


class RunMeter:
    """A run's :class:`~keepa_deals.ingest.source.Meter`: pays into its report (and tells
    the run's progress listener of each page)."""

    def __init__(self, report: IngestReport, checkpoint: Callable[[], None],
                 progress: ProgressSink | None = None) -> None:
        self.report = report
        self._checkpoint = checkpoint
        self._progress = progress

    def paid(self, tokens: int, *, pages: int = 0) -> None:
        self.report.counts.tokens_spent += tokens
        self.report.counts.pages += pages
        if pages and self._progress is not None:
            self._progress.emit(self.step("page"))

    def step(self, kind: Literal["page", "batch"], stage: str | None = None,
             size: int = 0) -> ProgressEvent:
        r = self.report
        return ProgressEvent(kind, query=r.query, pages=r.counts.pages,
                             tokens=r.counts.tokens_spent,
                             checked=r.checked_stats + r.checked_offers + r.refreshed,
                             added=r.counts.added, stage=stage, size=size)

    def checkpoint(self) -> None:
        self._checkpoint()


class Pipeline:
    """One run's work on one query (the lock is already held)."""

    def __init__(self, env: IngestEnv, query: DealQuery, report: IngestReport,
                 checkpoint: Callable[[], None], *,
                 lock_renewed: Callable[[], bool] | None = None) -> None:
        self.env = env
        self.lock_renewed = lock_renewed
        self.settings = env.settings
        self.store = env.store
        self.client = env.client
        self.budget = env.budget
        self.query = query
        self.report = report
        self.checkpoint = checkpoint
        self.meter = RunMeter(report, checkpoint, env.progress)
        self.max_pages = (query.run.max_pages if "max_pages" in query.run.model_fields_set
                          else env.settings.ingest_max_pages)
        self.source = source_for(env, query, max_pages=self.max_pages)
        self.fetch_offers = query.filters.offers.fetch_offers
        self.offers = query.filters.offers.offers if self.fetch_offers else None
        self.ledger = Ledger()
        #: The listed products this query bought lately (their ASINs and when).
        self.listed = ListedMemory()
        self.watermark: int | None = None
        self._synced = False
        #: ASINs whose offers Keepa failed to fetch in this run (retried in the next one)
        self._offers_failed: set[str] = set()

    # --- plumbing ------------------------------------------------------------------

    def now_ms(self) -> int:
        return self.env.clock.now_ms()

    def now(self) -> datetime:
        return ev.ms_to_datetime(self.now_ms())

    def load(self) -> None:
        """Read the ledger and the watermark; drop work the query no longer wants."""
        progress = self.store.read_progress(self.query.name, LEDGER_KEY)
        self.watermark = progress.watermark
        try:
            self.ledger = Ledger.loads(progress.text)
        except LedgerError as exc:
            self.ledger = Ledger()
            log.warning("query %s: %s; scanning from the watermark alone", self.query.name, exc)
        if self.watermark is None and not self.ledger.segments and self.query.reads_feed:
            # no watermark and no unfinished walk (whose segments say how far it got)
            self.watermark = self._rebuilt_watermark()
        self.ledger.prune(self.watermark)
        self.ledger.compact()
        window_ms = int(self.settings.ingest_refresh_after_h * 3_600_000)
        self.listed = ListedMemory.loads(self.store.state_text(self.query.name, LISTED_KEY),
                                         keep_after_ms=self.now_ms() - window_ms)
        if not self.fetch_offers:
            for c in self.ledger.pending("offers"):  # the query stopped buying offers
                if c.refresh:
                    del self.ledger.candidates[c.asin]
                else:
                    c.stage = "stats"
        max_age_ms = int(self.settings.ingest_pending_max_age_h * 3_600_000)
        expired = self.ledger.expire(self.now_ms() - max_age_ms)
        if expired:
            log.warning("query %s: %d candidates waited more than %g h and were dropped: the "
                        "budget is not keeping up with the feed", self.query.name, len(expired),
                        self.settings.ingest_pending_max_age_h)
            self.report.counts.rejected += sum(1 for c in expired if not c.refresh)
            self.report.reasons["waited too long"] += len(expired)
            self.commit(Changes())

    def _rebuilt_watermark(self) -> int | None:
        """No watermark but stored deals: it was lost (a deleted row, a restored backup).
        The newest ``lastUpdate`` stored stands in for it, so the walk does not go down the
        whole feed again (docs/failure-classes.md, FC-20)."""
        newest = self.store.newest_last_update(self.query.name)
        if newest is None:
            return None
        minute = datetime_to_keepa_minutes(newest)
        log.warning("query %s: the watermark is missing while %d deals are stored; rebuilt "
                    "from the newest lastUpdate stored (%s): the scan stops there instead of "
                    "buying the whole feed again", self.query.name,
                    self.store.count_deals(self.query.name), newest.isoformat())
        return minute

    def commit(self, changes: Changes) -> Committed:
        """The sink: ``changes`` with the whole ledger and what the run has spent so far, in
        one transaction; counted."""
        marks = [m for m in (self.watermark, changes.watermark) if m is not None]
        self.ledger.prune(max(marks) if marks else None)  # forget what no walk meets again
        if not self.query.reads_feed:
            self.ledger.forget_done()
        state: dict[str, int | str | None] = {LEDGER_KEY: self.ledger.dumps(), **changes.state}
        if self.report.run_id is not None:  # an abandoned run's row is booked from this
            c = self.report.counts
            state[RUN_SPENT_KEY] = RunSpent(self.report.run_id, c.tokens_spent, c.pages).dumps()
        commit = dataclasses.replace(changes, state=state)
        done = self.patiently(lambda: self.store.commit(self.query.name, commit))
        counts = self.report.counts
        counts.added += done.added
        counts.updated += done.updated
        counts.removed += done.removed
        if done.watermark is not None:
            self.watermark = done.watermark
        self.report.watermark = self.watermark
        return done

    def patiently(self, work: Callable[[], T]) -> T:
        """Store work that follows a paid call, tried again while the database is away
        (:func:`~keepa_deals.ingest.paid.save_paid`), as long as the run's lock is ours."""
        return save_paid(work, what=f"query {self.query.name}",
                         patience_s=self.settings.save_patience_s, ready=self.lock_renewed)

    def budget_snapshot(self) -> Snapshot:
        """The budget's projection now; unknown state is resolved by asking Keepa (free),
        once per run."""
        snap = self.budget.snapshot()
        if (not snap.known or snap.available is None) and not self._synced:
            self._synced = True
            try:
                self.budget.sync_tokens(force=True)
            except (BudgetError, KeepaDealsError) as exc:
                log.warning("could not ask Keepa for the token status: %s", exc)
            snap = self.budget.snapshot()
        return snap

    def affordable(self) -> Affordable:
        return Affordable.from_snapshot(self.budget_snapshot(), self.budget.policy)

    def _reject(self, why: str, n: int = 1) -> None:
        self.report.counts.rejected += n
        self.report.reasons[why] += n

    def _book(self, result: StageResult) -> None:
        result, spent = name_categories(self.env, self.query.domain_id, result)
        self.meter.paid(spent)
        log_result(self.query.name, result)
        result.apply_to(self.ledger)
        result.count_into(self.report)
        self.commit(result.changes())
        self.env.progress.emit(self.meter.step("batch", result.kind, len(result.asins)))

    def _buy(self, asins: Sequence[str], offers: int | None) -> ProductBatch:
        paid = buy_products(self.client, self.query, asins, offers)
        self.meter.paid(paid.tokens)
        return paid.reply

    # --- stage 0: the source -----------------------------------------------------------

    def scan(self) -> None:
        """Walk the source, committing each chunk; the checks are left in the ledger."""
        self._scan(check_each_page=False)

    def scan_and_check(self) -> None:
        """Walk the source; the candidates of a page are checked (stages 1 and 2) before
        the next page is bought, which keeps the pending work, and the ledger written
        with every commit, small."""
        self._scan(check_each_page=True)

    def _scan(self, *, check_each_page: bool) -> None:
        start = Start(self.watermark, self.ledger.segments, self.ledger.knows,
                      state=lambda key: self.store.state_text(self.query.name, key))
        for found in self.source.walk(start, self.meter):
            # the page is paid for: the store is read for it as patiently as it is saved
            fresh = self.patiently(lambda: self._not_bought_lately(found.candidates)
                                   if found.listed else self._not_checked_lately(found.candidates))
            for c in fresh:
                self.ledger.add(c)
            for r in found.rejections:
                self._reject(r.reason)
            self._commit_found(found)
            if check_each_page:
                self._work(full_batches=True)
            if found.walked_below is not None:  # keep the ledger small during a long walk
                self.ledger.compact(above=found.walked_below + LATE_MINUTES)
        if self.report.scan_complete is False:
            log.warning("query %s: %s", self.query.name, self.source.incomplete())

    def _commit_found(self, found: Found) -> None:
        """A chunk's candidates with its source's progress: the feed's watermark and
        segments, or a listed source's own state (and what the run has bought lately)."""
        state: dict[str, int | str | None] = dict(found.state)
        if found.listed:
            state[LISTED_KEY] = self.listed.dumps(self.now_ms())
        if found.mark is None:
            self.commit(Changes(state=state))
            return
        self.ledger.segments = list(found.mark.segments)
        self.commit(Changes(watermark=found.mark.watermark, state=state))
        self.report.scan_complete = found.mark.complete

    def _not_bought_lately(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """A listed product is bought once per re-check window: not when it is stored and
        re-checked within it, bought by a listed source within it (stored or rejected),
        or already waiting in the ledger.  One store read per chunk."""
        if not candidates:
            return []
        now_ms = self.now_ms()
        since = self.now() - timedelta(hours=self.settings.ingest_refresh_after_h)
        stored = self.store.checked_since(self.query.name, self.query.domain_id,
                                          [c.asin for c in candidates], since)
        out: list[Candidate] = []
        for c in candidates:
            waiting = self.ledger.candidates.get(c.asin)
            if (c.asin in stored or self.listed.bought_since(c.asin, since)
                    or (waiting is not None and waiting.pending)):
                self.report.skipped_stored += 1
                continue
            self.listed.bought(c.asin, now_ms)
            out.append(c)
        return out

    def _not_checked_lately(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The candidates still to be checked: one stored and re-checked within the refresh
        window at the same or a newer ``lastUpdate`` is booked as checked instead of bought
        again (a lost watermark, ledger or cursor costs no tokens;
        docs/failure-classes.md, FC-20).  One store read per page."""
        if not candidates:
            return []
        since = self.now() - timedelta(hours=self.settings.ingest_refresh_after_h)
        checked = self.store.checked_since(self.query.name, self.query.domain_id,
                                           [c.asin for c in candidates], since)
        out: list[Candidate] = []
        for c in candidates:
            at = checked.get(c.asin)
            if (at is not None and c.last_update is not None
                    and datetime_to_keepa_minutes(at) >= c.last_update):
                self.ledger.add(dataclasses.replace(c, stage="done", feed=None))
                self.report.skipped_stored += 1
            else:
                out.append(c)
        return out

    # --- stages 1 and 2: new candidates ------------------------------------------------

    def check_pending(self) -> None:
        """Work the ledger: offers first (their product check is paid for), then checks."""
        self._work()

    def _work(self, *, refresh_only: bool = False, full_batches: bool = False) -> None:
        """With ``full_batches`` (between feed pages) a call is made only when it can be full
        (Keepa's per-call maximum, or all the budget allows); the rest waits in the ledger
        for the next page's candidates, so 150-deal pages make 100-ASIN calls, not 100 + 50.
        """
        while True:
            self.checkpoint()
            waiting = [c for c in self.ledger.pending("offers")
                       if c.asin not in self._offers_failed and (c.refresh or not refresh_only)]
            if waiting and self.fetch_offers:
                aff = self.affordable()
                if not (full_batches and _partial(len(waiting), self.offers, aff)):
                    self._offers_failed.update(self._check("offers", waiting, aff).retry)
                    continue
            fresh = [] if refresh_only else self.ledger.pending("stats")
            if fresh:
                aff = self.affordable()
                if not (full_batches and _partial(len(fresh), None, aff)):
                    self._check("stats", fresh, aff)
                    continue
            return

    def _check(self, kind: Literal["stats", "offers"], pending: list[Candidate],
               affordable: Affordable) -> StageResult:
        """One paid call of stage 1 or stage 2, sized by what the budget can give now."""
        offers = self.offers if kind == "offers" else None
        n = batch_size(len(pending), offers=offers, affordable=affordable)
        batch = pending[:n]
        reply = self._buy([c.asin for c in batch], offers)
        stage = check_offers if kind == "offers" else check_stats
        result = stage(batch, reply, self.query, self.now_ms())
        if kind == "offers":
            result, spent = rate_sellers(self.env, self.query, result, reply)
            self.meter.paid(spent)
        self._book(result)
        return result

    # --- stage 3: refresh ------------------------------------------------------------------

    def refresh(self, older_than: timedelta) -> None:
        """Re-check stored deals not re-checked for ``older_than``, oldest first."""
        cutoff = self.now() - older_than
        attempted: set[str] = set()
        while True:
            self.checkpoint()
            busy = {c.asin for c in self.ledger.pending("offers") if c.refresh} | attempted
            keys = self.store.deals_to_refresh(
                len(busy) + 100, query=self.query.name, domain_id=self.query.domain_id,
                not_refreshed_since=cutoff)
            keys = [k for k in keys if k.asin not in busy]
            if not keys:
                return
            n = batch_size(len(keys), offers=None, affordable=self.affordable())
            batch = [k.asin for k in keys[:n]]
            attempted.update(batch)
            reply = self._buy(batch, None)
            self._book(recheck(batch, reply, self.query, self.now_ms()))
            if self.fetch_offers:
                self._work(refresh_only=True)

    # --- capacity ------------------------------------------------------------------------

    def record_refresh_capacity(self) -> RefreshCapacity | None:
        """Whether the refill can re-check every retained deal within the janitor's grace;
        written to the store for the janitor."""
        snap = self.budget.snapshot()
        if not snap.rate:
            return None
        rows = self.store.count_deals(self.query.name)
        per = unit_cost(None) + (unit_cost(self.offers) if self.fetch_offers else 0)
        grace_h = self.settings.janitor_grace_h
        cap = RefreshCapacity(rows, per, int(snap.rate * 60 * grace_h), REFRESH_SHARE)
        level = logging.DEBUG if cap.covered else logging.WARNING
        log.log(level, "query %s: refresh capacity %d deals per %g h grace period "
                "(%d tokens each, %.0f%% of the refill); %d retained: %s",
                self.query.name, cap.capacity_rows, grace_h, per, REFRESH_SHARE * 100, rows,
                "covered" if cap.covered else "NOT covered: the janitor holds back until it is")
        self.store.commit(self.query.name, Changes(state={
            REFRESH_COVERED_KEY: int(cap.covered),
            REFRESH_CAPACITY_KEY: cap.capacity_rows,
        }))
        return cap


def _partial(pending: int, offers: int | None, affordable: Affordable) -> bool:
    """Would the next call take every pending ASIN and still not be full?"""
    return pending < call_limit(offers) and batch_size(
        pending, offers=offers, affordable=affordable) >= pending
