"""The status, doctor, health and tokens verbs, through click and through a subprocess.

Invariants defended: with Redis or the database down every verb still answers,
with "unreachable" entries and meaningful exit codes, never a traceback; the
key never appears in their output; ``tokens sync`` repairs the shared state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from keepa_deals.budget.core import MT
from keepa_deals.cli import app
from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore, RunCounts
from tests._services import RedisServer, free_port
from tests.ops.conftest import KEY, deal


@pytest.fixture
def clock() -> FakeClock:
    """The sandbox's clock, frozen at the real time: the CLI runs on the real clock."""
    return FakeClock(time.time_ns() // 1_000_000)


def env_for(settings: Any) -> dict[str, str]:
    env = {
        "KEEPA_API_KEY": KEY,
        "KEEPA_API_URL": settings.keepa_api_url,
        "DATABASE_URL": settings.database_url,
        "KEEPA_DEALS_DATA_DIR": str(settings.data_dir),
        "KEEPA_DEALS_HTTP_RETRIES": "0",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def invoke(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> Result:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if "REDIS_URL" not in env:
        monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert KEY not in result.output
    return result


def subprocess_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("KEEPA_API", "KEEPA_DEALS_", "REDIS_URL", "DATABASE_URL"))}
    full.update(env)
    proc = subprocess.run([sys.executable, "-m", "keepa_deals", *args], env=full,
                          capture_output=True, text=True, timeout=50)
    assert KEY not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def healthy_store(settings: Any) -> None:
    """A store with deals and a recent successful run, on the real clock."""
    with DealStore.open(settings) as store:
        store.save_batch([deal(i) for i in range(3)], query="test-books", watermark=9_000_000)
        store.finish_run(store.start_run("test-books"), "ok", RunCounts(added=3, pages=1))
        store.record_metrics(deal_count=3)


# --- status ---------------------------------------------------------------------------


def test_status_json_everything_up(deployment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_store(deployment.settings)
    invoke(monkeypatch, env_for(deployment.settings), "tokens", "sync")
    result = invoke(monkeypatch, env_for(deployment.settings), "status", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["budget"]["state"] == "ready" and out["budget"]["anchor_tokens"] == 300
    assert out["budget"]["store"] == deployment.backend
    assert out["database"]["reachable"] is True
    assert out["deals"]["count"] == 3 and out["deals"]["rows"] == 3
    assert out["runs"][0]["outcome"] == "ok" and out["runs"][0]["added"] == 3
    assert out["queries"][0]["query"] == "test-books"
    assert out["queries"][0]["watermark"] == 9_000_000
    assert out["progress"]["ok"] is True
    assert out["version"]["version"]
    text = invoke(monkeypatch, env_for(deployment.settings), "status")
    assert "token budget" in text.output and "ready" in text.output
    assert "deals        3 current of 3 stored (24 h trend unknown)" in text.output


@pytest.mark.redis
def test_status_doctor_health_with_redis_down(own_redis: RedisServer, tmp_path: Path,
                                              keepa_url: str) -> None:
    from tests.ops.conftest import make_settings

    settings = make_settings(tmp_path, keepa_url, own_redis.url)
    healthy_store(settings)
    own_redis.stop()
    try:
        env = env_for(settings)
        status = subprocess_run(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        out = json.loads(status.stdout)
        assert out["redis"] == {"configured": True, "reachable": False,
                                "error": out["redis"]["error"]}
        assert "unreachable" in out["redis"]["error"]
        assert out["budget"]["state"] == "unreachable"
        assert "redis" in out["locks"]["errors"]
        assert out["deals"]["count"] == 3  # the database still answers
        text = subprocess_run(env, "status")
        assert "redis        UNREACHABLE" in text.stdout

        doctor = subprocess_run(env, "doctor", "--json", "--offline")
        assert doctor.returncode == 1
        verdicts = {c["name"]: c["verdict"] for c in json.loads(doctor.stdout)["checks"]}
        assert verdicts["redis"] == "fail" and verdicts["token_state"] == "fail"
        assert verdicts["database"] == "ok"

        health = subprocess_run(env, "health")
        assert health.returncode == 0, health.stdout  # progress is the database's to tell
        tokens = subprocess_run(env, "tokens", "status", "--json")
        assert tokens.returncode == 2 and json.loads(tokens.stdout)["state"] == "unreachable"
    finally:
        own_redis.start()


def test_status_with_the_database_down(tmp_path: Path, keepa_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ops.conftest import make_settings

    settings = make_settings(tmp_path, keepa_url, None)
    env = {**env_for(settings),
           "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"}
    result = invoke(monkeypatch, env, "status", "--json")
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["database"]["reachable"] is False
    for part in ("runs", "deals", "queries", "janitor", "progress"):
        assert "database" in out[part]["unknown"]
    health = invoke(monkeypatch, env, "health", "--json")
    assert health.exit_code == 2 and json.loads(health.output)["state"] == "unknown"
    doctor = invoke(monkeypatch, env, "doctor", "--offline")
    assert doctor.exit_code == 1 and "[FAIL] database" in doctor.output


# --- doctor ---------------------------------------------------------------------------


def test_doctor_fix_repairs_and_exits_zero(deployment: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_store(deployment.settings)
    store = deployment.budget_store()
    store.write_raw({"anchor_tokens": "-79000", "anchor_rate": "garbage"}, {})
    env = env_for(deployment.settings)
    before = invoke(monkeypatch, env, "doctor")
    assert before.exit_code == 1 and "[FAIL] token_state" in before.output
    fixed = invoke(monkeypatch, env, "doctor", "--fix", "--json")
    out = json.loads(fixed.output)
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["token_state"]["verdict"] == "ok"
    assert checks["token_state"]["repaired"][0].startswith("forced a /token sync")
    assert fixed.exit_code == 0, fixed.output


def test_doctor_unknown_check_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["doctor", "--check", "nope", "--offline"])
    assert result.exit_code == 2 and "no such checks: nope" in result.output


# --- health ---------------------------------------------------------------------------


def test_health_exit_codes(tmp_path: Path, keepa_url: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ops.conftest import make_settings

    settings = make_settings(tmp_path, keepa_url, None)
    env = env_for(settings)
    missing = invoke(monkeypatch, env, "health")
    assert missing.exit_code == 2 and "no database yet" in missing.output
    with DealStore.open(settings) as store:
        store.start_run("test-books")
    never = invoke(monkeypatch, env, "health")
    assert never.exit_code == 0 and "starting" in never.output
    healthy_store(settings)
    ok = invoke(monkeypatch, env, "health", "--json")
    assert ok.exit_code == 0 and json.loads(ok.output)["state"] == "healthy"
    monkeypatch.setenv("KEEPA_DEALS_INGEST_INTERVAL_S", "0.001")  # every interval has passed
    stalled = invoke(monkeypatch, env, "health")
    assert stalled.exit_code == 1 and stalled.output.startswith("stalled: no progress for")


# --- tokens ---------------------------------------------------------------------------


def test_tokens_sync_repairs_the_shared_state(deployment: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = deployment.budget_store()
    store.write_raw({"anchor_tokens": "-79000", "anchor_seen_ms": "9" * 30,
                     "recharge_target": "nonsense"}, {})
    env = env_for(deployment.settings)
    before = json.loads(invoke(monkeypatch, env, "tokens", "status", "--json").output)
    assert before["state"] == "unknown"
    result = invoke(monkeypatch, env, "tokens", "sync", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["tokensLeft"] == 300
    fields, _ = store.raw()
    assert fields["anchor_tokens"] == str(300 * MT) and "recharge_target" not in fields
    after = invoke(monkeypatch, env, "tokens", "status")
    assert after.exit_code == 0
    assert after.output.startswith("state        ready: 300 tokens available")
    assert "Keepa said 300 tokens at 5/min" in after.output


def test_tokens_status_explains_recharge(deployment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_for(deployment.settings)
    invoke(monkeypatch, env, "tokens", "sync")
    store = deployment.budget_store()
    fields, _ = store.raw()
    now = int(fields["anchor_seen_ms"])
    store.write_raw({"anchor_tokens": str(-40 * MT), "recharge_since_ms": str(now),
                     "recharge_deadline_ms": str(now + 900_000),
                     "recharge_target": str(25 * MT)},
                    {"host-1-aa": f"{7 * MT}:{now + 60_000}"})
    out = json.loads(invoke(monkeypatch, env, "tokens", "status", "--json").output)
    assert out["state"] == "recharging"
    assert "waits for a burst of 25 tokens" in out["why"]
    assert out["leases"][0]["id"] == "host-1-aa" and out["leases"][0]["cost"] == 7
    assert "7 tokens for a call in flight" in out["reasons"]["leases"]


@pytest.mark.redis
def test_tokens_sync_with_redis_down_prints_but_exits_1(own_redis: RedisServer, tmp_path: Path,
                                                        keepa_url: str) -> None:
    from tests.ops.conftest import make_settings

    settings = make_settings(tmp_path, keepa_url, own_redis.url)
    own_redis.stop()
    try:
        proc = subprocess_run(env_for(settings), "tokens", "sync", "--json")
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["tokensLeft"] == 300
        assert "not recorded in the token budget" in proc.stderr
    finally:
        own_redis.start()


def test_health_serve_answers_healthz_and_metrics(tmp_path: Path, keepa_url: str) -> None:
    import httpx

    from tests.ops.conftest import make_settings

    settings = make_settings(tmp_path, keepa_url, None)
    healthy_store(settings)
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("KEEPA_API", "KEEPA_DEALS_", "REDIS_URL", "DATABASE_URL"))}
    full.update(env_for(settings))
    proc = subprocess.Popen([sys.executable, "-m", "keepa_deals", "health", "--serve", "0"],
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        url = line.split()[1].removesuffix("/healthz")
        with httpx.Client(base_url=url, timeout=10) as http:
            reply = http.get("/healthz")
            assert reply.status_code == 200 and reply.json()["state"] == "healthy"
            assert "keepa_deals_healthy 1.0" in http.get("/metrics").text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and KEY not in err
