"""Celery mode's configuration: derived from the settings, refused without Redis or a database."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app as cli
from keepa_deals.fanout import tasks
from keepa_deals.fanout.app import make_celery_app
from keepa_deals.fanout.config import (
    BATCH_QUEUE,
    BATCH_TASK,
    JANITOR_TASK,
    TICK_QUEUE,
    TICK_TASK,
    CeleryModeError,
    celery_config,
    check_settings,
    configured_queries,
)
from keepa_deals.query import default_query
from keepa_deals.settings import Settings

REDIS = "redis://127.0.0.1:6390/3"
PG = "postgresql://u:secret@db.example/deals"


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"redis_url": REDIS, "database_url": PG}
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def query_file(tmp_path: Path, name: str) -> Path:
    text = default_query().model_dump_json(by_alias=True)
    path = tmp_path / f"{name}.json"
    path.write_text(text.replace('"used-books-us"', f'"{name}"', 1))
    return path


def test_celery_mode_needs_redis() -> None:
    with pytest.raises(CeleryModeError, match="REDIS_URL"):
        check_settings(settings(redis_url=None))


def test_celery_mode_needs_a_shared_database() -> None:
    with pytest.raises(CeleryModeError, match="DATABASE_URL"):
        check_settings(settings(database_url=None))


def test_sqlite_is_one_host_only() -> None:
    assert check_settings(settings()) == []
    warnings = check_settings(settings(database_url="sqlite:////var/lib/kd/deals.sqlite3"))
    assert len(warnings) == 1 and "this host" in warnings[0]


def test_a_short_visibility_timeout_is_pointed_out() -> None:
    warnings = check_settings(settings(celery_visibility_timeout_s=60))
    assert any("VISIBILITY_TIMEOUT" in w for w in warnings)


def test_delivery_settings() -> None:
    """Late acks, requeue on a lost worker, one task at a time, visibility over any task."""
    s = settings(celery_visibility_timeout_s=7200)
    conf = celery_config(s, [default_query()])
    assert conf["broker_url"] == REDIS
    assert conf["result_backend"] is None and conf["task_ignore_result"] is True
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"] == {"visibility_timeout": 7200}
    assert conf["task_time_limit"] < 7200
    assert conf["worker_disable_rate_limits"] is True
    assert conf["task_routes"][BATCH_TASK] == {"queue": BATCH_QUEUE}
    assert conf["task_routes"][TICK_TASK] == {"queue": TICK_QUEUE}
    assert {q.name for q in conf["task_queues"]} == {TICK_QUEUE, BATCH_QUEUE}


def test_a_separate_broker() -> None:
    conf = celery_config(settings(celery_broker_url="redis://broker:6379/1"), [default_query()])
    assert conf["broker_url"] == "redis://broker:6379/1"


def test_beat_ticks_every_query_and_runs_the_janitor(tmp_path: Path) -> None:
    s = settings(queries=f"{query_file(tmp_path, 'books-a')}, {query_file(tmp_path, 'books-b')}",
                 ingest_interval_s=120, janitor_interval_s=3600)
    queries = configured_queries(s)
    assert [q.name for q in queries] == ["books-a", "books-b"]
    beat = celery_config(s, queries)["beat_schedule"]
    ticks = {k: v for k, v in beat.items() if v["task"] == TICK_TASK}
    assert sorted(v["args"] for v in ticks.values()) == [("books-a",), ("books-b",)]
    # expires is far longer than any clock skew: a worker whose clock runs ahead still runs ticks
    assert all(v["schedule"] == 120 and v["options"]["expires"] == 3600 for v in ticks.values())
    assert beat["janitor"]["task"] == JANITOR_TASK and beat["janitor"]["schedule"] == 3600


def test_queries_default_to_the_built_in_one_and_names_are_unique(tmp_path: Path) -> None:
    assert [q.name for q in configured_queries(settings())] == ["used-books-us"]
    twice = settings(queries=f"used-books-us,{query_file(tmp_path, 'used-books-us')}")
    with pytest.raises(CeleryModeError, match="more than once"):
        configured_queries(twice)


def test_the_app_has_its_three_tasks() -> None:
    app = make_celery_app(settings())
    assert {TICK_TASK, BATCH_TASK, JANITOR_TASK} <= set(app.tasks)
    assert app.conf.task_acks_late is True
    # the module's functions, bound to the task (they read their settings from its app)
    assert app.tasks[TICK_TASK].run.__func__ is tasks.ingest_tick
    assert app.tasks[BATCH_TASK].run.__func__ is tasks.product_batch
    assert app.tasks[JANITOR_TASK].run.__func__ is tasks.janitor
    assert app.tasks[BATCH_TASK].max_retries is None


def test_a_ready_worker_logs_what_it_runs(caplog: pytest.LogCaptureFixture) -> None:
    """Once Celery has set up logging (worker_ready, not worker_init), so the lines are seen."""
    from celery.signals import worker_ready

    app = make_celery_app(settings(database_url="sqlite:////var/lib/kd/deals.sqlite3"))
    with caplog.at_level(logging.INFO, logger="keepa_deals.fanout"):
        worker_ready.send(sender=None)
    assert "Celery mode: queries used-books-us" in caplog.text
    assert "this host" in caplog.text, "the settings' warnings too"
    assert app.queries[0].name == "used-books-us"


@pytest.mark.parametrize("verb", ["worker", "beat"])
def test_the_commands_say_what_to_set(verb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(cli, [verb])
    assert result.exit_code == 2
    assert "REDIS_URL" in result.output
    monkeypatch.setenv("REDIS_URL", REDIS)
    result = CliRunner().invoke(cli, [verb])
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output


def test_the_plain_celery_module_refuses_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delitem(sys.modules, "keepa_deals.celery_app", raising=False)
    with pytest.raises(CeleryModeError, match="REDIS_URL"):
        importlib.import_module("keepa_deals.celery_app")
