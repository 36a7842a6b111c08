"""``keepa-deals tokens sync``: the status from /token, and clear exits on every failure."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.sandbox import DEMO_KEY
from tests._services import free_port
from tests.keepa.conftest import SANDBOX_KEY, UNKNOWN_KEY


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("KEEPA_API", "KEEPA_DEALS_"))}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "keepa_deals", *args],
        env=full_env, capture_output=True, text=True, timeout=45,
    )


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    """``python -m keepa_deals sandbox`` in a process of its own; yields its URL.

    The demo account holds 5000 tokens, above its 420 cap (7/min), so no
    refill changes the balance while the test runs on real time.
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "keepa_deals", "sandbox", "--port", str(port),
         "--tokens", "5000", "--rate", "7"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox process did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_sync_json_against_a_sandbox_process(sandbox_process: str) -> None:
    proc = _run("tokens", "sync", "--json", KEEPA_API_URL=sandbox_process, KEEPA_API_KEY=DEMO_KEY)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["tokensLeft"] == 5000
    assert out["refillRate"] == 7
    assert DEMO_KEY not in proc.stdout + proc.stderr


def test_sync_json_prints_the_sandbox_status(sandbox_server: Any) -> None:
    account = sandbox_server.sandbox.account(SANDBOX_KEY)
    proc = _run("tokens", "sync", "--json", KEEPA_API_URL=sandbox_server.url,
                KEEPA_API_KEY=SANDBOX_KEY)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["tokensLeft"] == account.tokens == 300
    assert out["refillRate"] == account.refill_rate == 5
    assert 0 < out["refillIn"] <= 60_000
    assert out["timestamp"] == sandbox_server.sandbox.now_ms()
    assert SANDBOX_KEY not in proc.stdout + proc.stderr


def test_sync_text(sandbox_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPA_API_URL", sandbox_server.url)
    monkeypatch.setenv("KEEPA_API_KEY", SANDBOX_KEY)
    result = CliRunner().invoke(app, ["tokens", "sync"])
    assert result.exit_code == 0, result.output
    assert "tokensLeft" in result.output and "300" in result.output
    assert "5 per minute" in result.output


def test_missing_key_exits_2() -> None:
    result = CliRunner().invoke(app, ["tokens", "sync", "--json"])
    assert result.exit_code == 2
    assert "KEEPA_API_KEY is not set" in result.output


@pytest.mark.parametrize(("key", "text"), [("notakey", "KEEPA_API_KEY is malformed"),
                                           (UNKNOWN_KEY, "no active Keepa plan")])
def test_invalid_key_exits_2(sandbox_server: Any, monkeypatch: pytest.MonkeyPatch, key: str,
                             text: str) -> None:
    monkeypatch.setenv("KEEPA_API_URL", sandbox_server.url)
    monkeypatch.setenv("KEEPA_API_KEY", key)
    result = CliRunner().invoke(app, ["tokens", "sync"])
    assert result.exit_code == 2
    assert text in result.output
    assert key not in result.output


def test_unreachable_url_exits_2() -> None:
    proc = _run("tokens", "sync", KEEPA_API_URL=f"http://127.0.0.1:{free_port()}",
                KEEPA_API_KEY=SANDBOX_KEY, KEEPA_DEALS_HTTP_RETRIES="0")
    assert proc.returncode == 2
    assert "cannot reach Keepa" in proc.stderr and "KEEPA_API_URL" in proc.stderr
    assert "key=***" in proc.stderr
    assert SANDBOX_KEY not in proc.stdout + proc.stderr
