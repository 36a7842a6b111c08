"""The access key never appears in a log line, an exception text or a repr.

One run through every error path the client has, with ALL logging captured at
DEBUG (httpx's and httpcore's loggers included), every exception's str, repr,
formatted traceback and chained causes, and the reprs of the objects involved.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.errors import KeepaError
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.keepa.redact import display_url, redact
from tests._services import free_port
from tests.keepa.conftest import (
    MOCK_KEY,
    SANDBOX_KEY,
    UNKNOWN_KEY,
    RecordingBudget,
    Sleeps,
    envelope,
    json_reply,
)

BAD_KEY = "thisisnotavalidkeybutstillsecret"
SECRETS = (SANDBOX_KEY, UNKNOWN_KEY, BAD_KEY, MOCK_KEY)
PRODUCT = {"domain": 1, "asin": "0000000001"}


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _texts_of(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    for e in _chain(exc):
        texts += [str(e), repr(e), repr(e.args), repr(vars(e)) if hasattr(e, "__dict__") else ""]
        request = getattr(e, "_request", None)
        if isinstance(request, httpx.Request):
            texts.append(str(request.url))
    return texts


def test_the_key_appears_nowhere(
    sandbox_server: Any,
    sandbox_http: Callable[..., KeepaHTTP],
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("", "httpx", "httpcore", "keepa_deals", "uvicorn", "tenacity"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    sb = sandbox_server.sandbox
    texts: list[str] = []
    raised: list[type[BaseException]] = []

    def attempt(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
            texts.append(repr(result))
        except KeepaError as exc:
            raised.append(type(exc))
            texts.extend(_texts_of(exc))

    http = sandbox_http(retries=1)
    client = KeepaClient(http, RecordingBudget())
    texts += [repr(http), repr(client), str(vars(http))]
    http.add_listener(lambda status: texts.append(repr(status)))

    attempt(http.token_status)                                            # 200
    attempt(lambda: client.deals({"domainId": 1, "priceTypes": [2]}))     # 200 POST
    attempt(lambda: client.products([p.asin for p in sb.catalog.products[:2]], offers=20))
    attempt(lambda: sandbox_http(key=BAD_KEY).token_status())             # 400 key
    attempt(lambda: http.request("deal", json_body={"domainId": 1, "priceTypes": [1, 2]}))
    attempt(lambda: sandbox_http(key=UNKNOWN_KEY).token_status())         # 402
    attempt(lambda: http.request("finder"))                               # 404
    attempt(lambda: http.request("product", {**PRODUCT, "offers": 10}))   # 405
    attempt(lambda: http.request("token", json_body={}))                  # 405 method
    for status in (500, 503, 429):
        sb.set_faults(error_rates={status: 1.0})
        attempt(lambda: http.request("product", PRODUCT))
    sb.set_faults(html_rate=1.0)
    attempt(http.token_status)                                            # HTML 503
    sb.set_faults(truncate_rate=1.0)
    attempt(lambda: http.request("product", PRODUCT))                     # truncated 200
    sb.set_faults(zero_token_fields_rate=1.0)
    attempt(lambda: http.request("finder"))
    sb.set_faults(latency_ms=1000)
    attempt(lambda: sandbox_http(timeout_s=0.2, retries=1).request("product", PRODUCT))
    sb.clear_faults()
    sb.update_account(SANDBOX_KEY, tokens=0)
    attempt(lambda: client.deals({"domainId": 1, "priceTypes": [2]}))     # 429 via the client
    with KeepaHTTP(SANDBOX_KEY, base_url=f"http://127.0.0.1:{free_port()}", retries=1,
                   sleep=sleeps) as dead:
        texts.append(repr(dead))
        attempt(dead.token_status)                                        # connection refused
    for reply in (httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("closed"),
                  json_reply(200, [1]), json_reply(418, envelope())):
        handler = (lambda r, reply=reply: (_ for _ in ()).throw(reply)) if isinstance(
            reply, Exception) else (lambda r, reply=reply: reply)
        with KeepaHTTP(MOCK_KEY, base_url="http://keepa.test", retries=0,
                       transport=httpx.MockTransport(handler)) as mocked:
            attempt(mocked.token_status)

    assert len(raised) >= 17, raised
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request" in logged, "httpx's own request log line was captured"
    assert "key=***" in logged
    everything = logged + "\n".join(texts)
    for secret in SECRETS:
        assert secret not in everything
        assert secret[:20] not in everything


def test_redact() -> None:
    assert redact(f"GET http://x/token?key={SANDBOX_KEY}&a=1") == "GET http://x/token?key=***&a=1"
    assert redact(f"url ...?KEY={SANDBOX_KEY}: boom") == "url ...?KEY=***: boom"
    assert redact(f"the key {SANDBOX_KEY} leaked", SANDBOX_KEY) == "the key *** leaked"
    assert redact("monkey=1 apikey=2") == "monkey=1 apikey=2"
    assert display_url("http://x", "product", {"asin": "A,B"}) == (
        "http://x/product?asin=A,B&key=***"
    )
    assert display_url("http://x", "token") == "http://x/token?key=***"


def test_redact_hides_pieces_of_the_key_and_any_case() -> None:
    """A server or a proxy may quote a truncated key, or change its case: 16+ characters of
    it are masked wherever they appear; shorter runs are ordinary text."""
    key = SANDBOX_KEY
    assert redact(f"bad key {key[:16]}...", key) == "bad key ***..."
    assert redact(f"tail {key[-20:]}!", key) == "tail ***!"
    assert redact(f"middle {key[10:40]} end", key) == "middle *** end"
    assert redact(f"upper {key.upper()} and {key[:24].upper()}", key) == "upper *** and ***"
    assert redact(f"short {key[:15]}", key) == f"short {key[:15]}"
    assert redact(f"{key}{key}", key) == "******"
    assert redact("no secret here", key) == "no secret here"
    short = "s3cr3tkeyy"  # under 16 characters: the whole secret, in any case
    assert redact(f"a {short} b {short.upper()}", short) == "a *** b ***"
