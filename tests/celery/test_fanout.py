"""Celery mode's tick and batch runner, in process: the broker is a list, the rest is real.

Each test names the invariant of docs/failure-classes.md it defends.  The sandbox
runs over real HTTP on the fake clock the ingest process shares; the deal
store is SQLite (and PostgreSQL where marked).
"""

from __future__ import annotations

from collections.abc import Callable

from keepa_deals.clock import FakeClock
from keepa_deals.fanout import BatchBook, run_batch, run_tick
from keepa_deals.fanout.batches import Outcome
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger
from keepa_deals.locks import lock_name
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import Changes, RunOutcome
from tests.celery.conftest import KEY, Broker
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import stored


def ledger_of(env: IngestEnv, query: DealQuery) -> Ledger:
    return Ledger.loads(str(env.store.get_state(query.name, LEDGER_KEY) or ""))


def until_quiet(env: IngestEnv, query: DealQuery, broker: Broker, ticks: int = 8) -> None:
    """Tick and deliver until a tick finds nothing to plan and nothing open."""
    for _ in range(ticks):
        broker.tick(env, query)
        broker.work(env, query)
        if not BatchBook(env.store, query.name).all()[0] and not _pending(env, query):
            broker.tick(env, query)  # folds what the last deliveries finished
            return
    raise AssertionError("work still open after many ticks")


def _pending(env: IngestEnv, query: DealQuery) -> int:
    ledger = ledger_of(env, query)
    return ledger.count("stats") + ledger.count("offers")


def product_requests(sandbox: Sandbox) -> int:
    return sandbox.account(KEY).requests_to("product")


# --- FC-9: no deal skipped or duplicated --------------------------------------------


def test_fc9_fanned_out_ingest_stores_exactly_the_expected_deals(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    broker: Broker, db_url: str,
) -> None:
    """Batches run by workers store what the catalog says, every number, nothing twice."""
    env = make_env(database_url=db_url)
    expected = oracle.expected(sandbox, query, clock.now_ms())
    until_quiet(env, query, broker)
    rows = stored(env.store)
    assert set(rows) == set(expected)
    for asin, e in expected.items():
        oracle.check_row(rows[asin], e, query)
    assert len(broker.runs) > 3, "the work went out in several batches"
    assert {r.status for r in broker.runs} == {"done"}
    assert all(c.stage == "done" for c in ledger_of(env, query).candidates.values())


def test_fc9_fanned_out_and_embedded_runs_agree(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    broker: Broker,
) -> None:
    """The same feed through the embedded run and through the workers: the same deals."""
    fanned = make_env()
    until_quiet(fanned, query, broker)
    embedded = make_env()
    assert smart_ingestor(embedded, query).outcome is RunOutcome.OK
    a, b = stored(fanned.store), stored(embedded.store)
    assert set(a) == set(b) and a
    assert {k: v.profit_cents for k, v in a.items()} == {k: v.profit_cents for k, v in b.items()}
    # the workers' batches store each deal's history as the embedded run does
    for asin in a:
        fh, eh = fanned.store.deal_history(asin), embedded.store.deal_history(asin)
        assert fh is not None and eh is not None and fh.series == eh.series, asin


# --- delivery: at least once, saved once ---------------------------------------------------


def test_the_tick_scans_and_plans_and_leaves_every_product_call_to_the_workers(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    env = make_env()
    report = broker.tick(env, query)
    assert report.outcome is RunOutcome.OK and report.counts.pages > 0
    assert product_requests(sandbox) == 0
    assert broker.queue and {b.kind for b in broker.queue} == {"stats"}
    records = BatchBook(env.store, query.name).all()[0]
    assert {b.id for b in records} == {b.id for b in broker.queue}, "recorded before sent"


def test_a_second_delivery_of_a_saved_batch_pays_nothing(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    """Late acks: a crash after the save and before the ack delivers the task again."""
    env = make_env()
    broker.tick(env, query)
    first = broker.queue[0]
    assert run_batch(env, query, first.id, first.epoch).status == "done"
    paid = product_requests(sandbox)
    deals = env.store.count_deals()
    again = run_batch(env, query, first.id, first.epoch)
    assert again.status == "already_done"
    assert product_requests(sandbox) == paid, "not paid twice"
    assert env.store.count_deals() == deals


def test_a_message_of_an_older_epoch_does_nothing(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
    clock: FakeClock,
) -> None:
    """A batch sent again supersedes its old message (a retry chain, a restored copy)."""
    env = make_env(celery_redispatch_after_s=30)
    broker.tick(env, query)
    lost = broker.queue.pop(0)
    broker.queue.clear()
    clock.advance(31_000)
    broker.tick(env, query)  # sends the lost one again, under epoch 2
    again = [b for b in broker.queue if b.id == lost.id]
    assert [b.epoch for b in again] == [2]
    paid = product_requests(sandbox)
    assert run_batch(env, query, lost.id, lost.epoch).status == "obsolete"
    assert product_requests(sandbox) == paid
    assert run_batch(env, query, lost.id, 2).status == "done"


def test_a_batch_claimed_by_a_live_worker_is_left_to_it(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    """One batch, one payer: a second delivery while the first runs waits for the claim."""
    env = make_env(celery_claim_ttl_s=40)
    broker.tick(env, query)
    b = broker.queue[0]
    assert env.lock.acquire(lock_name("batch", b.id), "another-worker", 40)
    paid = product_requests(sandbox)
    run = run_batch(env, query, b.id, b.epoch)
    assert run.status == "claimed"
    assert run.retry_after_s is not None and 1 <= run.retry_after_s <= 41
    assert product_requests(sandbox) == paid


def test_fc13_a_dead_workers_batch_is_sent_again_and_saved_once(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
    clock: FakeClock,
) -> None:
    """A worker died holding a claim and its message is gone: the claim expires, the tick
    sends the batch again, and its ASINs end up checked, each once."""
    env = make_env(celery_claim_ttl_s=20, celery_redispatch_after_s=60)
    broker.tick(env, query)
    dead = broker.queue.pop(0)
    assert env.lock.acquire(lock_name("batch", dead.id), "dead-worker", 20)
    broker.work(env, query)  # everything else is done
    clock.advance(30_000)
    broker.tick(env, query)
    assert all(b.id != dead.id for b in broker.queue), "its claim has expired, but too recently"
    clock.advance(31_000)
    broker.tick(env, query)
    assert [b.epoch for b in broker.queue if b.id == dead.id] == [2]
    until_quiet(env, query, broker)
    ledger = ledger_of(env, query)
    for asin in dead.asins:
        c = ledger.candidates.get(asin)
        assert c is None or c.stage == "done"
    assert not BatchBook(env.store, query.name).all()[0]


def test_fc28_a_batch_whose_reply_was_lost_twice_is_not_retried_by_its_task(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    """The client sent the lost call once more already: the batch ends ``lost`` (its task does
    not retry it at once, which would buy it a third time) and stays open for a tick."""
    env = make_env(http_timeout_s=0.3)
    broker.tick(env, query)
    b = broker.queue.pop(0)
    sandbox.set_faults(slow_reply_rate=1.0, slow_reply_ms=1_000, endpoints=["product"])
    paid = product_requests(sandbox)
    run = run_batch(env, query, b.id, b.epoch)
    sandbox.set_faults()
    assert run.status == "lost", run
    assert product_requests(sandbox) - paid == 2, "sent once more, never a third time"
    record = BatchBook(env.store, query.name).get(b.id)
    assert record is not None and not record.done


# --- FC-5: no worker sleeps waiting for tokens ---------------------------------------------


def test_fc5_a_batch_without_tokens_ends_with_retry_after_and_keeps_its_record(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
    clock: FakeClock,
) -> None:
    env = make_env(celery_task_max_wait_s=5, celery_redispatch_after_s=30)
    broker.tick(env, query)
    b = broker.queue.pop(0)
    broker.queue.clear()
    sandbox.update_account(KEY, tokens=-500, refill_rate=60)
    env.budget.sync_tokens(force=True)
    start = clock.now_ms()
    run = run_batch(env, query, b.id, b.epoch)
    assert run.status == "waiting"
    assert run.retry_after_s is not None and run.retry_after_s > 5
    assert clock.now_ms() - start <= 5_000, "waited no longer than the task's bound"
    record = BatchBook(env.store, query.name).get(b.id)
    assert record is not None and not record.done
    assert record.dispatched_ms >= start + int(run.retry_after_s * 1000), \
        "the record says when its task comes back"
    clock.advance(31_000)
    broker.tick(env, query)
    assert all(x.id != b.id for x in broker.queue), "a wait is not taken for a lost message"


def test_a_retry_lost_with_its_worker_is_sent_again_soon_after_it_was_due(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
    clock: FakeClock,
) -> None:
    """A worker holds a retry until it is due; a worker that dies takes it along (the broker
    gives it back only after its visibility timeout): the tick sends the batch again a grace
    after it was due, not a whole redispatch period later."""
    from keepa_deals.fanout.tick import held_grace_s

    env = make_env(celery_task_max_wait_s=5, celery_redispatch_after_s=900,
                   ingest_interval_s=10)
    broker.tick(env, query)
    b = broker.queue.pop(0)
    broker.queue.clear()
    sandbox.update_account(KEY, tokens=-500, refill_rate=60)
    env.budget.sync_tokens(force=True)
    run = run_batch(env, query, b.id, b.epoch)  # its retry is now held by a worker that dies
    assert run.status == "waiting" and run.retry_after_s is not None
    grace = held_grace_s(env.settings.ingest_interval_s)
    clock.advance(int((run.retry_after_s + grace - 5) * 1000))
    broker.tick(env, query)
    assert all(x.id != b.id for x in broker.queue), "a retry not yet overdue is left alone"
    clock.advance(10_000)
    broker.tick(env, query)
    assert [x.epoch for x in broker.queue if x.id == b.id] == [2], "sent again, long before 900 s"
    record = BatchBook(env.store, query.name).get(b.id)
    assert record is not None and not record.deferred


# --- the lock: one tick per query at a time ------------------------------------------------------


def test_a_tick_while_another_runner_holds_the_query_does_nothing(
    make_env: Callable[..., IngestEnv], query: DealQuery, broker: Broker,
) -> None:
    """A second beat or a manual `ingest --once` cannot make two ticks of one query."""
    env = make_env()
    assert env.lock.acquire(lock_name("ingest", query.name), "manual-run", 60)
    report = broker.tick(env, query)
    assert report.outcome is RunOutcome.LOCKED
    assert not broker.queue and not BatchBook(env.store, query.name).all()[0]


# --- fair share ---------------------------------------------------------------------------


def test_each_query_plans_at_most_its_share(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    """Two queries on one key: a tick plans at most half of what the budget can give over
    an interval, less what its query already has in flight; the next tick adds nothing
    until that is done."""
    sandbox.update_account(KEY, tokens=150, refill_rate=60)
    env = make_env(ingest_interval_s=60)
    env.budget.sync_tokens(force=True)
    report = run_tick(env, query, queries=2, send=broker.send)
    assert report.outcome is RunOutcome.OK
    snap = env.budget.snapshot()
    planned = sum(b.cost for b in broker.queue)
    # after the scan: (balance - floor) + one interval of refill, halved
    share = ((snap.available or 0) - env.settings.budget_floor + 60) // 2
    assert 0 < planned <= share
    broker.queue.clear()
    run_tick(env, query, queries=2, send=broker.send)
    assert sum(b.cost for b in broker.queue) <= max(0, share - planned) + 5


def test_a_save_tried_again_after_its_commit_went_through_finds_its_own_outcome(
    make_env: Callable[..., IngestEnv], query: DealQuery, broker: Broker,
) -> None:
    """The connection dropped after the server committed: the save's next try (FC-30) is
    told the batch is done by this very attempt (its follow-ups are sent), not by another
    worker; an outcome of another attempt still gets None."""
    env = make_env()
    broker.tick(env, query)
    b = broker.queue.pop(0)
    book = BatchBook(env.store, query.name)
    assert book.settle(b.id, Changes(), Outcome(done_ms=123, follow_ups=["f1"]), []) is not None
    again = book.settle(b.id, Changes(), Outcome(done_ms=123, follow_ups=["f1"]), [])
    assert again is not None and again.follow_ups == ["f1"]
    assert book.settle(b.id, Changes(), Outcome(done_ms=124, follow_ups=["f2"]), []) is None
