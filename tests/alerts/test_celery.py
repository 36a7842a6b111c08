"""Celery mode: the tick's batches queue deal alerts; the ``keepa_deals.alerts`` task (on the
beat) sends them, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keepa_deals.fanout.app import CeleryModeApp, make_celery_app
from keepa_deals.fanout.config import ALERTS_TASK, TICK_TASK, beat_schedule
from keepa_deals.query import default_query
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.settings import Settings
from tests.alerts._receivers import WebhookReceiver
from tests.alerts.test_deal_alerts import _alert
from tests.celery.conftest import KEY, serve_live_sandbox

pytestmark = [pytest.mark.redis]


@pytest.fixture
def live_sandbox(_sandbox_server: SandboxServer) -> Sandbox:
    return serve_live_sandbox(_sandbox_server)


@pytest.fixture
def settings(redis_url: str, _sandbox_server: SandboxServer, tmp_path: Path) -> Settings:
    return Settings(keepa_api_key=KEY, keepa_api_url=_sandbox_server.url, redis_url=redis_url,
                    database_url=f"sqlite:///{tmp_path}/deals.sqlite3", data_dir=tmp_path,
                    ingest_max_pages=20, http_retries=1)


@pytest.fixture
def app(settings: Settings) -> Iterator[CeleryModeApp]:
    app = make_celery_app(settings)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.close_worker_env()


def test_the_alerts_task_is_on_the_beat(settings: Settings) -> None:
    beat = beat_schedule(settings, [default_query()])
    assert beat["alerts"]["task"] == ALERTS_TASK
    assert beat["alerts"]["schedule"] == settings.alert_check_interval_s


def test_the_alerts_task_sends_what_the_batches_queued_once(
        app: CeleryModeApp, settings: Settings, live_sandbox: Sandbox) -> None:
    with WebhookReceiver() as hook:
        env = app.worker_env()
        _alert(env.store, settings, "good", "min_profit=5", [hook.url()])
        app.tasks[TICK_TASK].apply(("used-books-us",))
        assert env.store.count_deals() > 0
        first = app.tasks[ALERTS_TASK].apply().get()
        assert first["sent"] > 0 and first["failed"] == 0
        assert len(hook.wait_for(first["sent"])) == first["sent"]
        assert app.tasks[ALERTS_TASK].apply().get()["sent"] == 0
        assert hook.duplicates() == 0
