"""Logging: JSON or console, stdlib routed through structlog, run ids, redaction, volume.

Invariants defended: the key never appears in a log line (the last defence,
whatever a caller logs); every line of a run carries its run id; a long
wait for tokens logs a few lines per scheduler tick, not thousands.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from keepa_deals.budget.factory import open_budget
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.ops import logging as ops_logging
from keepa_deals.sandbox import Sandbox
from keepa_deals.settings import Settings
from keepa_deals.tokens.errors import TokenRechargeError
from tests.ops.conftest import KEY, Deployment


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ops_logging.QUIET_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    ops_logging._configured = None


def configure(fmt: str = "json", level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    settings = Settings(keepa_api_key=KEY, log_format=fmt, log_level=level)
    ops_logging.configure(settings, stream=stream, force=True)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_from_structlog_and_stdlib_carry_the_run_id() -> None:
    stream = configure("json")
    log = ops_logging.get_logger("keepa_deals.test")
    log.info("before the run")
    with ops_logging.run_context(run_id=42, query="test-books"):
        log.info("saved", added=3)
        logging.getLogger("keepa_deals.budget").warning("store slow: %s", "retrying")
    log.info("after the run")
    out = lines(stream)
    assert [o["event"] for o in out] == ["before the run", "saved", "store slow: retrying",
                                         "after the run"]
    assert "run_id" not in out[0] and "run_id" not in out[3]
    assert out[1]["run_id"] == 42 and out[1]["query"] == "test-books" and out[1]["added"] == 3
    assert out[2]["run_id"] == 42 and out[2]["level"] == "warning"
    assert out[2]["logger"] == "keepa_deals.budget"
    assert all(o["timestamp"].endswith("Z") for o in out)


def test_the_key_is_redacted_everywhere() -> None:
    stream = configure("json")
    log = ops_logging.get_logger("keepa_deals.test")
    log.info(f"GET https://api.keepa.com/token?key={KEY}", extra_url=f"/deal?key={KEY}&page=1",
             nested={"key": KEY, "list": [KEY]})
    logging.getLogger("keepa_deals.keepa").error("a careless message with %s inside", KEY)
    try:
        raise ValueError(f"boom {KEY}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert KEY not in text
    assert text.count("***") >= 5
    assert "key=***" in text


def test_console_format_is_readable_and_redacted() -> None:
    stream = configure("console")
    with ops_logging.run_context(run_id=7):
        ops_logging.get_logger("keepa_deals.test").info("waiting", key_used=KEY)
    text = stream.getvalue()
    assert "waiting" in text and "run_id=7" in text and KEY not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_configure_is_idempotent_and_keeps_one_handler() -> None:
    stream = configure("json")
    settings = Settings(keepa_api_key=KEY, log_format="json")
    ops_logging.configure(settings, stream=stream)
    ops_logging.configure(settings, stream=stream)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, ops_logging._Handler)]
    assert len(ours) == 1
    ops_logging.get_logger("x").info("once")
    assert len(lines(stream)) == 1


def test_a_long_wait_for_tokens_is_quiet(deployment: Deployment, sandbox: Sandbox) -> None:
    """24 hours of scheduler ticks, every 5 minutes, all waiting for tokens."""
    stream = configure("json", level="INFO")
    clock = deployment.clock
    sandbox.update_account(KEY, tokens=-3_000, refill_rate=1)  # 50 h from positive
    http = KeepaHTTP(KEY, base_url=deployment.settings.keepa_api_url, retries=2,
                     sleep=clock.sleep)
    budget = open_budget(deployment.settings, sync=http.token_status, clock=clock)
    client = KeepaClient(http, budget)
    log = ops_logging.get_logger("keepa_deals.ingest")
    ticks = 24 * 12
    try:
        for tick in range(ticks):
            with ops_logging.run_context(run_id=tick):
                try:
                    client.deals({"domainId": 1, "priceTypes": [2], "page": 0})
                except TokenRechargeError as exc:
                    log.info("waiting for tokens", retry_after_s=round(exc.retry_after))
            clock.advance(300_000)
    finally:
        http.close()
        budget.store.close()
    out = lines(stream)
    assert out, "the waits were logged"
    per_tick = len(out) / ticks
    assert per_tick <= 3, f"{per_tick:.1f} lines per tick"
    assert not [o for o in out if o["logger"].startswith(("httpx", "httpcore"))]
    assert sandbox.account(KEY).requests_to("deal") == 0  # nothing was spent meanwhile
