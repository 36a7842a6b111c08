"""``keepa-deals serve`` and WebServer: binding rules, a real process answering, stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from keepa_deals.cli import app as cli
from keepa_deals.clock import FakeClock
from keepa_deals.errors import ConfigError
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.web import create_app
from keepa_deals.web.server import WebServer


def test_serve_refuses_a_public_address_without_a_token() -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "refusing to serve the dashboard on 0.0.0.0 without an access token" in result.output
    assert "KEEPA_DEALS_WEB_TOKEN" in result.output


def test_serve_refuses_a_public_default_host_without_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEEPA_DEALS_WEB_HOST", "0.0.0.0")
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "without an access token" in result.output


def test_web_server_refuses_a_public_address_without_a_token(
    sqlite_url: str, clock: FakeClock
) -> None:
    with DealStore.open(sqlite_url, clock=clock) as store:
        app = create_app(Settings(database_url=sqlite_url), engine=store.engine, budget=None,
                         clock=clock, alerts=None)
        with pytest.raises(ConfigError, match="KEEPA_DEALS_WEB_TOKEN"):
            WebServer(app, host="0.0.0.0")


def test_web_server_in_a_thread_answers_and_stops(sqlite_url: str, clock: FakeClock) -> None:
    with DealStore.open(sqlite_url, clock=clock) as store:
        app = create_app(Settings(database_url=sqlite_url), engine=store.engine, budget=None,
                         clock=clock, alerts=None)
        with WebServer(app) as web:
            assert web.url.startswith("http://127.0.0.1:")
            assert httpx.get(web.url + "/api/deals", timeout=5).json()["total"] == 0
        with pytest.raises(RuntimeError):
            _ = web.url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEPA", "DATABASE_URL",
                                                                     "REDIS_URL"))}
    env["KEEPA_DEALS_DATA_DIR"] = str(tmp_path)
    env["KEEPA_API_KEY"] = "servedsecretkey" + "s" * 49
    proc = subprocess.Popen(
        [sys.executable, "-m", "keepa_deals", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, f"serve exited: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line)
            if line.startswith("}"):
                break
        url = json.loads("".join(lines))["url"]
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_serve_runs_the_dashboard_until_interrupted(
    served: tuple[subprocess.Popen[str], str]
) -> None:
    proc, url = served
    health = httpx.get(url + "/api/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["deals"]["count"] == 0  # serve migrated the new database
    assert "servedsecretkey" not in health.text
    page = httpx.get(url + "/", timeout=10)
    assert page.status_code == 200 and "Deals" in page.text
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
