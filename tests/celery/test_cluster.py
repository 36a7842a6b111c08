"""Celery mode in real processes: beat and three workers, Redis, PostgreSQL, a sandbox process.

One deployment on one machine, as docs/deploy.md describes it for several:
the sandbox Keepa server in its own process (product calls take 0.5-1.5 s),
``celery -A keepa_deals.celery_app beat`` and three ``worker --concurrency 1``
processes, each in its own process group.  The plan is small enough that the
budget runs dry and waits for a refill during the test.  One worker is
killed with SIGKILL (its whole process group, as when its host dies) while
it is paying for a batch.

Afterwards:

* deals flowed, and the stored deals are exactly those an embedded run
  finds in the same feed afterwards (no deal skipped, none twice: FC-9),
  the killed worker's batch included; products a deal event changed during
  the test are left out of the comparison;
* nothing is stuck: no batch record is left, no candidate waits in the
  ledger (FC-13: the dead worker's claim and lock expired on their own);
* the sandbox's balance never went below the budget's floor (FC-6), and
  no paid call met a 429 (FC-7): the workers spent one shared budget.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import redis

from keepa_deals.fanout import BatchBook
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger
from keepa_deals.query import load_query
from keepa_deals.redis_db.keys import KeyBuilder, fingerprint
from keepa_deals.sandbox import DEMO_KEY, Catalog, CatalogConfig
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunOutcome
from tests.celery._cluster import (
    Cluster,
    SandboxProcess,
    group_of,
    pid_of_owner,
    refused,
    wait_for,
)
from tests.ingest.conftest import stored

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

QUERY = "books-offers"
FLOOR = -180
#: The first bucket: spent within seconds, then the workers wait for the refill.
TOKENS = 100
EVENT_INTERVAL_S = 10.0
BACKLOG_S = 36_000.0


def query_file(path: Path) -> Path:
    """The built-in query, buying offers for the survivors of the product check."""
    text = resources.files("keepa_deals.query").joinpath("builtin/used-books-us.toml").read_text()
    text = text.replace('name = "used-books-us"', f'name = "{QUERY}"')
    path.write_text(text.replace("fetch_offers = false", "fetch_offers = true"))
    return path


def claims_of(client: redis.Redis, pgid: int) -> list[tuple[str, str]]:
    """(batch id, owner) of the batch claims held by processes of the group ``pgid``."""
    keys = KeyBuilder(fingerprint(DEMO_KEY))
    out = []
    for key in client.scan_iter(match=keys.pattern, count=1000):
        name = key.decode()
        if ":lock:batch." not in name:
            continue
        owner = client.get(key)
        pid = pid_of_owner(owner.decode()) if owner else None
        if pid is not None and group_of(pid) == pgid:
            out.append((name.rsplit("batch.", 1)[1], owner.decode()))
    return out


def quiet(store: DealStore) -> bool:
    """No batch record left and no candidate waiting in the ledger."""
    if BatchBook(store, QUERY).all() != ([], []):
        return False
    ledger = Ledger.loads(str(store.get_state(QUERY, LEDGER_KEY) or ""))
    last = store.last_run(QUERY)
    return (ledger.count("stats") + ledger.count("offers") == 0 and last is not None
            and last.outcome == RunOutcome.OK.value)


@pytest.mark.timeout(240)
def test_three_workers_one_budget_and_a_killed_worker_loses_nothing(
    redis_url: str, fresh_postgres: str, tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    sandbox = SandboxProcess(rate=1200, tokens=TOKENS, event_interval_s=EVENT_INTERVAL_S,
                             backlog_s=BACKLOG_S, log=logs / "sandbox.log").start()
    cluster: Cluster | None = None
    store = DealStore.open(fresh_postgres)
    client = redis.Redis.from_url(redis_url)
    try:
        sandbox.set_faults(latency_ms=[500, 1500], endpoints=["product"])
        # the bucket runs dry within seconds; its refill comes ~30 s from now
        now = sandbox.account()["now_ms"]
        sandbox.update_account(phase_ms=(now + 30_000) % 60_000)
        started_ms = now
        settings = {
            "REDIS_URL": redis_url, "DATABASE_URL": fresh_postgres,
            "KEEPA_API_URL": sandbox.url, "KEEPA_API_KEY": DEMO_KEY,
            "KEEPA_DEALS_DATA_DIR": str(tmp_path / "data"),
            "KEEPA_DEALS_QUERIES": str(query_file(tmp_path / "books-offers.toml")),
            "KEEPA_DEALS_INGEST_INTERVAL_S": "2", "KEEPA_DEALS_INGEST_MAX_PAGES": "10",
            "KEEPA_DEALS_INGEST_LOCK_TTL_S": "6", "KEEPA_DEALS_BUDGET_FLOOR": str(FLOOR),
            "KEEPA_DEALS_BUDGET_BURST_MINUTES": "0.5", "KEEPA_DEALS_BUDGET_LEASE_TTL_S": "30",
            "KEEPA_DEALS_CELERY_MAX_BATCH": "10", "KEEPA_DEALS_CELERY_CLAIM_TTL_S": "5",
            "KEEPA_DEALS_CELERY_REDISPATCH_AFTER_S": "15",
            "KEEPA_DEALS_CELERY_VISIBILITY_TIMEOUT_S": "60",
            # a dry bucket is never slept through: how close to the refill it runs dry
            # depends on how fast the cluster starts, and the test wants the waiting path
            "KEEPA_DEALS_CELERY_TASK_MAX_WAIT_S": "0",
        }
        cluster = Cluster(settings, logs)
        cluster.start_beat()
        for name in ("w0", "w1", "w2"):
            cluster.start_worker(name)

        # w0 is paying for a batch: kill it, pool and all
        w0 = cluster.pgid("w0")
        victim = wait_for("w0 paying for a batch", lambda: paying(client, w0), timeout=90)
        cluster.kill("w0")
        batch = BatchBook(store, QUERY).get(victim)
        assert batch is not None and not batch.done, "killed before it saved"

        wait_for("deals", lambda: store.count_deals() > 0, timeout=60)
        wait_for("every batch done and folded", lambda: quiet(store), timeout=150, every=0.5)
        account = sandbox.account()
    finally:
        if cluster is not None:
            cluster.stop_all()
        client.close()

    try:
        # --- one budget: never below the floor, no 429 on a paid call ---------------
        assert account["counters"]["min_balance"] >= FLOOR
        assert refused(account, "product") == 0
        assert refused(account, "deal") == 0
        assert account["counters"]["tokens_consumed"] > TOKENS + 100, "more than the first bucket"
        workers = "".join(cluster.log(w) for w in ("w0", "w1", "w2"))
        assert "waiting for tokens" in workers, "the budget ran dry on the way"

        # --- the killed worker's batch was done by another, once --------------------
        others = cluster.log("w1") + cluster.log("w2")
        assert f"batch {victim} " in others and "Traceback" not in others
        assert f"batch {victim} was saved by another worker" not in others

        # --- the deals are those an embedded run finds in the same feed -------------
        # (products a deal event touched since the start may differ: they are left out)
        sandbox.set_faults()
        sandbox.update_account(tokens=50_000)
        expected = embedded_deals(sandbox.url, tmp_path, load_query(tmp_path / "books-offers.toml"))
        changed = touched_since(sandbox, started_ms)
        rows = stored(store)
        assert set(rows) - changed == set(expected) - changed
        assert set(rows) - changed, "the backlog held deals"
        for asin in set(rows) - changed:
            assert rows[asin].profit_cents == expected[asin].profit_cents
        # the killed batch's ASINs among them: stored, or rejected by both runs
        assert {a for a in batch.asins if a in rows} - changed == \
            {a for a in batch.asins if a in expected} - changed
    finally:
        store.close()
        sandbox.stop()


def paying(client: redis.Redis, pgid: int) -> str | None:
    """A batch a process of ``pgid`` has claimed and still holds 0.2 s later (mid-call)."""
    first = dict(claims_of(client, pgid))
    if not first:
        return None
    time.sleep(0.2)
    still = dict(claims_of(client, pgid))
    return next((b for b, owner in first.items() if still.get(b) == owner), None)


def touched_since(sandbox: SandboxProcess, since_ms: int) -> set[str]:
    """ASINs of the products a deal event changed after ``since_ms`` (the sandbox's catalog
    is a function of its seed, configuration and start)."""
    state = sandbox.state()
    info = state["catalog"]
    catalog = Catalog(CatalogConfig(seed=info["seed"], event_interval_s=EVENT_INTERVAL_S,
                                    backlog_s=BACKLOG_S), start_ms=info["start_ms"])
    events = catalog.events(state["now_ms"], since_ms=since_ms)
    return {catalog.products[e.product].asin for e in events}


def embedded_deals(url: str, tmp_path: Path, query: Any) -> dict[str, Any]:
    """What one embedded run stores from the same feed, in a database of its own."""
    settings = Settings(keepa_api_url=url, keepa_api_key=DEMO_KEY, redis_url=None,
                        database_url=f"sqlite:///{tmp_path}/embedded.sqlite3",
                        data_dir=tmp_path / "embedded", ingest_max_pages=20)
    with open_env(settings) as env:
        report = smart_ingestor(env, query)
        assert report.outcome is RunOutcome.OK, report.as_dict()
        return stored(env.store)
