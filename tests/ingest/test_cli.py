"""``keepa-deals ingest --once``, ``run`` (``--sandbox``, ``--for``, signals), the scheduler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.cli.run_cmd import parse_duration
from keepa_deals.ingest.loop import next_delay
from keepa_deals.ingest.report import IngestReport
from keepa_deals.locks import lock_name
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.store import DealStore, RunOutcome
from tests.ingest.conftest import KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(server: SandboxServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KEEPA_API_URL", server.url)
    monkeypatch.setenv("KEEPA_API_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_ingest_once_json_reports_the_run(cli_env: str, sandbox: Sandbox) -> None:
    code, out = invoke("ingest", "--once", "--json")
    assert code == 0, out
    report = json.loads(out)
    for key in ("outcome", "deals_added", "deals_updated", "deals_rejected", "deals_removed",
                "tokens_spent", "retry_after_s", "pages", "run_id"):
        assert key in report, key
    assert report["outcome"] == "ok" and report["deals_added"] > 0 and report["pages"] == 1
    assert report["tokens_spent"] == sandbox.account(KEY).tokens_consumed
    assert report["retry_after_s"] is None
    assert KEY not in out
    code, out = invoke("ingest", "--once")
    assert code == 0 and out.startswith("run 2 ok: 0 new")


def test_ingest_exit_codes(cli_env: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
                           ) -> None:
    assert invoke("ingest")[0] == 2, "--once is required"
    with DealStore.open(cli_env) as store:
        store.runner_lock().acquire(lock_name("ingest", "used-books-us"), "other-9-cafe", 300)
        code, out = invoke("ingest", "--once", "--json")
        assert code == 0 and json.loads(out)["outcome"] == "locked"
        store.runner_lock().release(lock_name("ingest", "used-books-us"), "other-9-cafe")
    sandbox.update_account(KEY, tokens=2, refill_rate=1)
    code, out = invoke("ingest", "--once", "--json")
    report = json.loads(out)
    assert code == 0 and report["outcome"] == "waiting_for_tokens" and report["retry_after_s"] > 0
    monkeypatch.delenv("KEEPA_API_KEY")
    code, out = invoke("ingest", "--once", "--json")
    assert code == 2 and json.loads(out)["outcome"] == "error"
    result = CliRunner().invoke(app, ["ingest", "--once", "--query", "/no/such/query.toml"])
    assert result.exit_code == 2 and "cannot read the file" in result.stderr


def test_next_run_honours_retry_after_and_never_retries_blindly() -> None:
    waiting = IngestReport("q", RunOutcome.WAITING_FOR_TOKENS, retry_after_s=900.0)
    assert next_delay(waiting, 300) == 900
    assert next_delay(IngestReport("q", RunOutcome.WAITING_FOR_TOKENS, retry_after_s=0.0), 300) == 1
    assert next_delay(IngestReport("q", RunOutcome.OK), 300) == 300
    assert next_delay(IngestReport("q", RunOutcome.ERROR, error="x"), 300) == 300


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("90") == 90
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800
    for bad in ("", "5x", "m5", "1h 2m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def _run(*args: str, tmp: Path, extra_env: dict[str, str] | None = None
         ) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPA")}
    env["KEEPA_DEALS_DATA_DIR"] = str(tmp)
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, "-m", "keepa_deals", "run", *args], cwd=tmp,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(120)
def test_run_sandbox_for_a_while(tmp_path: Path) -> None:
    # the demo's first run checks 750 deals of its backlog (5 pages): several seconds
    proc = _run("--sandbox", "--for", "20s", "--interval", "1", tmp=tmp_path)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("sandbox Keepa server  http://127.0.0.1:")
    assert lines[1].startswith("data directory ") and "temporary" in lines[1]
    ticks = [line for line in lines if " ok " in line and "tokens" in line]
    assert len(ticks) >= 2 and "next" in ticks[0]
    # not a terminal: progress comes as plain lines, and the best deals are shown
    assert any(line.startswith("  used-books-us: ") and "tokens (batch of" in line
               for line in lines)
    assert "\x1b" not in out
    assert any(line.startswith("the best ") for line in lines)
    assert lines[-1] == "done"
    assert not list(tmp_path.glob("*.sqlite3")), "the demo never uses the normal data directory"


@pytest.mark.timeout(120)
def test_run_serves_the_dashboard_and_metrics_beside_the_ingestor(tmp_path: Path) -> None:
    import re

    import httpx

    proc = _run("--sandbox", "--web", "--metrics", "--interval", "60", tmp=tmp_path,
                extra_env={"KEEPA_DEALS_WEB_PORT": "0", "KEEPA_DEALS_METRICS_PORT": "0"})
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        while not any(" ok " in line for line in seen):
            line = proc.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)
        text = "".join(seen)
        web = re.search(r"dashboard at (http://\S+)", text)
        health = re.search(r"health and metrics at (http://\S+)/healthz", text)
        assert web and health, text
        assert httpx.get(f"{web.group(1)}/api/deals", timeout=10).status_code == 200
        body = httpx.get(f"{health.group(1)}/metrics", timeout=10).text
        assert "keepa_deals_" in body
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.timeout(120)
def test_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = _run("--sandbox", "--interval", "60", tmp=tmp_path)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60  # the first run: 750 deals of the backlog
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if " ok " in line:
            break
    assert " ok " in line, "no run happened"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped") and "SIGTERM" in err
    assert time.monotonic() - start < 5, "no waiting out the interval"
