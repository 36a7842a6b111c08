"""The Celery tasks themselves, run eagerly in this process (no broker, real everything else).

The tick task sends its batches through ``apply_async`` like in production;
eager mode runs each one at once, follow-ups included.  Messages carry JSON
only (query name, batch id, epoch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keepa_deals.fanout import BatchBook
from keepa_deals.fanout.app import CeleryModeApp, make_celery_app
from keepa_deals.fanout.config import BATCH_TASK, JANITOR_TASK, TICK_TASK
from keepa_deals.query import default_query
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.settings import Settings
from tests.celery.conftest import KEY
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import stored

pytestmark = [pytest.mark.redis]


@pytest.fixture
def settings(redis_url: str, _sandbox_server: SandboxServer, tmp_path: Path) -> Settings:
    return Settings(keepa_api_key=KEY, keepa_api_url=_sandbox_server.url, redis_url=redis_url,
                    database_url=f"sqlite:///{tmp_path}/deals.sqlite3", data_dir=tmp_path,
                    ingest_max_pages=20, celery_max_batch=10, http_retries=1)


@pytest.fixture
def app(settings: Settings) -> Iterator[CeleryModeApp]:
    """The app of ``settings``, its tasks run eagerly; its parts closed afterwards."""
    app = make_celery_app(settings)
    app.conf.task_always_eager = True
    yield app
    app.close_worker_env()


def test_a_tick_task_fans_out_and_the_batch_tasks_store_the_deals(
    app: CeleryModeApp, settings: Settings, live_sandbox: Sandbox,
) -> None:
    app.conf.task_eager_propagates = True
    query = default_query()
    expected = oracle.expected(live_sandbox, query, live_sandbox.now_ms())

    first = app.tasks[TICK_TASK].delay(query.name).get()
    assert first["outcome"] == "ok"
    # a scheduled tick right after the last one does nothing (the gate in Redis) ...
    assert app.tasks[TICK_TASK].delay(query.name).get()["outcome"] == "not due"
    # ... a follow-up tick (sent by a tick that waited for tokens) runs: it folds the batches
    second = app.tasks[TICK_TASK].delay(query.name, True).get()
    assert second["outcome"] == "ok"

    from keepa_deals.store import DealStore

    with DealStore.open(settings) as store:
        assert set(stored(store)) == set(expected)
        assert BatchBook(store, query.name).all() == ([], [])
        runs = store.recent_runs(query.name)
    assert sum(r.deals_added for r in runs) == len(expected), "the tick counts the batches' work"

    again = app.tasks[BATCH_TASK].delay(query.name, "0123456789abcdef", 1).get()
    assert again == {"batch": "0123456789abcdef", "status": "already_done"}
    janitor = app.tasks[JANITOR_TASK].delay().get()
    assert janitor["outcome"] == "ok" and janitor["removed"] == 0


def test_a_batch_of_an_unknown_query_is_refused_without_retrying(app: CeleryModeApp) -> None:
    result = app.tasks[BATCH_TASK].delay("no-such-query", "0123456789abcdef", 1).get()
    assert result["status"] == "unknown query"


def test_a_worker_process_opens_its_parts_once_with_the_task_wait_bound(
    app: CeleryModeApp, settings: Settings,
) -> None:
    """The parts are built from the app's settings, the Keepa client's wait for tokens bounded
    at construction; every task of the process gets the same ones until it shuts down."""
    from celery.signals import worker_process_shutdown

    env = app.worker_env()
    assert app.worker_env() is env
    assert env.settings is settings is app.settings
    assert env.client.max_wait_s == settings.celery_task_max_wait_s != settings.budget_max_wait_s
    worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert env.stop.is_set, "the process's shutdown closes its parts"
    assert app.worker_env() is not env


def test_each_app_runs_with_its_own_settings(settings: Settings, redis_url: str) -> None:
    """Two apps in one process: each task runs with its app's settings and parts."""
    one = make_celery_app(settings)
    other = make_celery_app(settings.model_copy(update={"celery_task_max_wait_s": 3.0}))
    try:
        assert one.worker_env() is not other.worker_env()
        assert other.worker_env().client.max_wait_s == 3.0
        assert one.tasks[TICK_TASK].app is one and other.tasks[TICK_TASK].app is other
    finally:
        one.close_worker_env()
        other.close_worker_env()
