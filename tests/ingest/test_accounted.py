"""Nothing bought again by accident, checked before paid, every token accounted.

Real HTTP against the sandbox, on SQLite and PostgreSQL:

* a lost watermark (or ledger) costs about what an untouched copy of the store
  spends (docs/failure-classes.md, FC-20);
* a new deal store on an account in use is reported before the first paid call, in the
  log, in ``status`` and by doctor (FC-21);
* a run that dies is booked with what it spent (FC-22), a run that fails while writing
  releases its lock and its row says what the command said (FC-23);
* a query that cannot be read or walked costs nothing (FC-24).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.clock import FakeClock
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.locks import lock_name
from keepa_deals.ops.doctor import Verdict, run_checks
from keepa_deals.ops.status import collect_status, render
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import RunOutcome
from keepa_deals.store.state import LEDGER_KEY, RUN_SPENT_KEY, RunSpent
from tests.ingest.conftest import KEY, Recorder, open_feed, stored, with_offers

#: A second account on the same sandbox: an untouched copy of the store pays from it.
KEY2 = "ingestcopykey" + "7" * 51
MINUTE = 60_000


def settings_for(server: SandboxServer, db: str, data_dir: Path, key: str = KEY,
                 **overrides: Any) -> Settings:
    return Settings(keepa_api_key=key, keepa_api_url=server.url, database_url=db,
                    data_dir=data_dir, http_retries=1, **overrides)


# --- FC-20: what is stored is not bought again -----------------------------------------


@pytest.mark.parametrize("offers", [False, True], ids=["stats", "offers"])
@pytest.mark.parametrize("lost", ["watermark", "ledger", "watermark+ledger"])
def test_fc20_a_lost_watermark_or_ledger_costs_about_what_an_untouched_copy_spends(
    lost: str, offers: bool, db_url: str, sqlite_url: str, server: SandboxServer, sandbox: Sandbox,
    clock: FakeClock, query: DealQuery, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.add_account(KEY2, tokens=1200, refill_rate=20, phase_ms=7_000)
    if offers:  # a wide feed, offers bought for the survivors: re-buying is dear
        query = with_offers(open_feed(query))
    with open_env(settings_for(server, db_url, tmp_path / "a"), clock=clock) as damaged, \
            open_env(settings_for(server, sqlite_url, tmp_path / "b", KEY2),
                     clock=clock) as copy:
        first = smart_ingestor(damaged, query)
        assert smart_ingestor(copy, query).outcome is RunOutcome.OK
        assert first.outcome is RunOutcome.OK and first.counts.added > 0
        clock.advance(30 * MINUTE)  # new deals appear in the feed meanwhile
        if "watermark" in lost:
            damaged.store.set_watermark(query.name, None)
        if "ledger" in lost:
            damaged.store.set_state(query.name, LEDGER_KEY, None)
        caplog.set_level(logging.WARNING, "keepa_deals.ingest")
        again = smart_ingestor(damaged, query)
        untouched = smart_ingestor(copy, query)
        assert again.outcome is untouched.outcome is RunOutcome.OK
        spent, reference = again.counts.tokens_spent, untouched.counts.tokens_spent
        print(f"\nlost {lost}: {spent} tokens; untouched copy: {reference} tokens; "
              f"first run {first.counts.tokens_spent}; skipped as stored: {again.skipped_stored}")
        assert spent <= 1.5 * reference, (spent, reference)
        assert set(stored(damaged.store)) == set(stored(copy.store))
        if "watermark" in lost:
            assert any("watermark is missing" in r.getMessage() for r in caplog.records)
            assert damaged.store.get_watermark(query.name) is not None, "rebuilt, then moved"


# --- FC-21: a new store on an account in use is said out loud ---------------------------


def _empty(db: str) -> None:
    """The deal database as a zero-byte file (SQLite) or an empty schema (PostgreSQL)."""
    url = sa.make_url(db)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if p.exists():
                p.unlink()
        path.write_bytes(b"")
        return
    engine = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1)
                              if db.startswith("postgresql://") else db)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


def test_fc21_a_zero_byte_store_on_an_account_in_use_is_reported_before_paying(
    db_url: str, server: SandboxServer, sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(server, db_url, tmp_path / "data")
    with open_env(settings, clock=clock) as env:
        assert smart_ingestor(env, query).outcome is RunOutcome.OK
    _empty(db_url)

    def said_everywhere() -> None:
        status = collect_status(settings, clock=clock)
        assert status["new_store"]["warnings"], status["new_store"]
        assert any(line.startswith("WARNING") and "deal store is new" in line
                   for line in render(status))
        [check] = run_checks(settings, only=["new_store"], clock=clock)
        assert check.verdict == Verdict.WARN and "deal store is new" in check.summary
        # ... and the health alert (docs/alerts.md) holds
        from keepa_deals.alerts.health import conditions
        from keepa_deals.ops.sources import Sources
        from keepa_deals.store import DealStore
        from keepa_deals.store.alerting import AlertBook

        with DealStore.open(settings) as store, Sources(settings, clock=clock) as sources:
            found = {c.name: c for c in conditions(settings, AlertBook(store), sources)}
        assert found["new_store"].holds and "deal store is new" in found["new_store"].summary

    said_everywhere()  # before any run: the file has no schema yet

    rec = Recorder()
    paid_when_warned: list[int] = []

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "deal store is new" in record.getMessage():
                paid_when_warned.append(len(rec.deals()) + len(rec.products()))

    watch = Watch(logging.WARNING)
    logging.getLogger("keepa_deals.ingest").addHandler(watch)
    try:
        with open_env(settings, clock=clock, transport=rec) as env:
            report = smart_ingestor(env, query)
    finally:
        logging.getLogger("keepa_deals.ingest").removeHandler(watch)
    assert paid_when_warned == [0], "the warning comes before the first paid call"
    assert report.outcome is RunOutcome.OK and report.counts.added > 0, "the run goes on"
    assert report.warnings and "deal store is new" in report.as_dict()["warnings"][0]
    said_everywhere()  # after it: what the run found is shown for a day


def test_fc21_a_genuinely_new_user_is_not_warned(
    db_url: str, server: SandboxServer, sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    tmp_path: Path,
) -> None:
    settings = settings_for(server, db_url, tmp_path / "data")
    [check] = run_checks(settings, only=["new_store"], clock=clock)
    assert check.verdict in (Verdict.OK, Verdict.SKIPPED)  # no database yet
    with open_env(settings, clock=clock) as env:
        report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK and report.warnings == []
    assert collect_status(settings, clock=clock)["new_store"]["warnings"] == []
    [check] = run_checks(settings, only=["new_store"], clock=clock)
    assert check.verdict == Verdict.OK


# --- FC-22: a run that dies is booked with what it spent --------------------------------


def test_fc22_a_dead_runs_row_gets_the_tokens_its_commits_recorded(
    db_url: str, server: SandboxServer, sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    tmp_path: Path,
) -> None:
    settings = settings_for(server, db_url, tmp_path / "data")
    with open_env(settings, clock=clock) as env:
        # a run that dies after its commits: the row is left running, as kill -9 leaves it
        real_finish = env.store.finish_run
        env.store.finish_run = lambda *a, **k: None  # type: ignore[method-assign]
        dead = smart_ingestor(env, query)
        env.store.finish_run = real_finish  # type: ignore[method-assign]
        assert dead.counts.tokens_spent > 0 and dead.run_id is not None
        spent = RunSpent.loads(env.store.state_text(query.name, RUN_SPENT_KEY))
        assert spent is not None and spent.run_id == dead.run_id
        assert spent.tokens == dead.counts.tokens_spent, "the last commit carried every token"
        [row] = [r for r in env.store.recent_runs(query.name) if r.id == dead.run_id]
        assert row.outcome == "running"
        clock.advance(10 * MINUTE)
        assert smart_ingestor(env, query).outcome is RunOutcome.OK
        [row] = [r for r in env.store.recent_runs(query.name) if r.id == dead.run_id]
    assert row.outcome == RunOutcome.ABANDONED.value
    assert row.tokens_spent == dead.counts.tokens_spent and row.pages == dead.counts.pages


# --- FC-23: a run that fails while writing --------------------------------------------


class FailingCommits:
    """Makes the store's commits fail as a full disk would, from the ``at``-th on, ``n`` times."""

    def __init__(self, engine: sa.Engine, *, at: int, n: int = 1) -> None:
        self.engine, self.at, self.n, self.seen = engine, at, n, 0
        sa.event.listen(engine, "commit", self)

    def __call__(self, conn: sa.Connection) -> None:
        self.seen += 1
        if self.at <= self.seen < self.at + self.n:
            import sqlite3

            raise sa.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError(
                "database or disk is full"))

    def remove(self) -> None:
        sa.event.remove(self.engine, "commit", self)


@pytest.mark.parametrize("at", [6, 12])
def test_fc23_a_failed_commit_releases_the_lock_and_the_row_says_error(
    at: int, db_url: str, server: SandboxServer, sandbox: Sandbox, clock: FakeClock,
    query: DealQuery, tmp_path: Path,
) -> None:
    settings = settings_for(server, db_url, tmp_path / "data")
    with open_env(settings, clock=clock) as env:
        failing = FailingCommits(env.store.engine, at=at)
        report = smart_ingestor(env, query)
        failing.remove()
        assert failing.seen >= at, "the failure was met"
        assert report.outcome is RunOutcome.ERROR and report.error
        assert "disk is full" in report.error
        assert env.lock.holder(lock_name("ingest", query.name)) is None, "the lock is free"
        row = env.store.last_run(query.name)
        assert row is not None and row.id == report.run_id
        assert row.outcome == RunOutcome.ERROR.value and row.error == report.error
        again = smart_ingestor(env, query)
        assert again.outcome is RunOutcome.OK, "the next run is not locked out"


def test_fc23_when_recording_the_run_fails_the_row_still_says_error(
    db_url: str, server: SandboxServer, sandbox: Sandbox, clock: FakeClock, query: DealQuery,
    tmp_path: Path,
) -> None:
    settings = settings_for(server, db_url, tmp_path / "data")
    with open_env(settings, clock=clock) as env:
        real_finish = env.store.finish_run
        calls: list[str] = []

        def finish(run_id: int, outcome: Any, *args: Any, **kwargs: Any) -> None:
            calls.append(str(outcome))
            if len(calls) == 1:
                from keepa_deals.store.errors import DatabaseUnavailable

                raise DatabaseUnavailable("database unavailable: database or disk is full")
            real_finish(run_id, outcome, *args, **kwargs)

        env.store.finish_run = finish  # type: ignore[method-assign]
        report = smart_ingestor(env, query)
        env.store.finish_run = real_finish  # type: ignore[method-assign]
        assert report.outcome is RunOutcome.ERROR
        assert report.error is not None and "could not record the run" in report.error
        row = env.store.last_run(query.name)
        assert row is not None and row.outcome == "error" and row.error == report.error
        assert env.lock.holder(lock_name("ingest", query.name)) is None


# --- FC-24: checked before paid ----------------------------------------------------------

BAD_SORT = """
name = "sorted-by-price"
[selection]
domainId = 1
priceTypes = [2]
sortType = 4
"""


@pytest.mark.parametrize("command", [["ingest", "--once", "--json"], ["run", "--for", "5s"]])
@pytest.mark.parametrize("problem", ["missing", "unwalkable"])
def test_fc24_a_query_that_cannot_be_used_costs_no_token(
    command: list[str], problem: str, server: SandboxServer, sandbox: Sandbox, sqlite_url: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "sorted-by-price.toml"
    if problem == "unwalkable":
        bad.write_text(BAD_SORT)
    else:
        bad = Path("/nonexistent.toml")
    monkeypatch.setenv("KEEPA_API_URL", server.url)
    monkeypatch.setenv("KEEPA_API_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    # the good query comes first: it must not be paid for before the bad one is read
    monkeypatch.setenv("KEEPA_DEALS_QUERIES", f"used-books-us,{bad}")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    said = result.stdout + result.stderr
    if "--json" in command:
        said += json.loads(result.stdout)["error"]
    assert (str(bad) if problem == "missing" else "sortType") in said
    assert "recording the run" not in said and "record the run" not in said
    assert sandbox.account(KEY).tokens_consumed == 0
