"""Who may see the dashboard, and what it never shows.

Invariants: without a token the dashboard answers only on loopback (and refuses to bind
elsewhere); with a token every request needs it; the Keepa key (and the web token)
never appear in any page, API answer, header or error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr, ValidationError

from keepa_deals.clock import FakeClock
from keepa_deals.errors import ConfigError
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.web import create_app
from keepa_deals.web.access import SESSION_COOKIE, check_bind, safe_next, session_value
from tests.web._deals import seed
from tests.web.conftest import SECRET_KEY, Api

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def locked(settings: Settings, store: DealStore, clock: FakeClock) -> Api:
    s = settings.model_copy(update={"web_token": SecretStr(TOKEN)})
    return Api(create_app(s, engine=store.engine, budget=None, clock=clock, alerts=None))


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- without a token: loopback only -------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost:8000", "[::1]:8000",
                                  "LOCALHOST"])
def test_loopback_hosts_are_served(api: Api, host: str) -> None:
    assert api.get("/api/deals", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.5:8000",
                                  "127.0.0.1.evil.example", ""])
def test_other_hosts_are_refused_without_a_token(api: Api, host: str) -> None:
    """A page on another site cannot reach a loopback dashboard through DNS rebinding."""
    r = api.get("/api/deals", headers={"Host": host})
    assert r.status_code == 400 and "loopback" in r.text


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_binding_loopback_needs_no_token(host: str) -> None:
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_binding_elsewhere_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="KEEPA_DEALS_WEB_TOKEN"):
        check_bind(host, None)
    check_bind(host, SecretStr(TOKEN))


def test_a_short_token_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="at least 12 characters"):
        Settings(web_token="short")
    assert Settings(web_token="   ").web_token is None


# --- with a token: every request needs it ---------------------------------------------


@pytest.mark.parametrize("path", ["/api/deals", "/api/health", "/api/openapi.json",
                                  "/api/deals/B000000001", "/api/series/tokens", "/api/runs"])
def test_api_needs_the_token(locked: Api, path: str) -> None:
    r = locked.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in r.json()["detail"]
    assert locked.get(path, headers=bearer("wrong-token-value")).status_code == 401
    assert locked.get(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert locked.get(path, headers=bearer()).status_code in (200, 404)


def test_a_token_also_guards_other_hosts_and_lets_them_in(locked: Api) -> None:
    """With a token the dashboard may be served anywhere: any Host, the token decides."""
    assert locked.get("/api/deals", headers={"Host": "deals.example"}).status_code == 401
    headers = {"Host": "deals.example", **bearer()}
    assert locked.get("/api/deals", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/", "/health", "/deals/B000000001?domain=1"])
def test_pages_send_people_to_sign_in(locked: Api, path: str) -> None:
    r = locked.get(path)
    assert r.status_code == 303
    location = urlparse(r.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


def test_sign_in_sets_a_session_cookie_that_is_not_the_token(locked: Api) -> None:
    form = locked.get("/login?next=/health")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert 'value="/health"' in form.text

    wrong = locked.post("/login", data={"token": "not-the-token", "next": "/health"})
    assert wrong.status_code == 401 and "not the access token" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")

    ok = locked.post("/login", data={"token": TOKEN, "next": "/health"})
    assert ok.status_code == 303 and ok.headers["location"] == "/health"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value == session_value(SecretStr(TOKEN))

    jar = {SESSION_COOKIE: value}
    assert locked.get("/health", cookies=jar).status_code == 200
    assert locked.get("/api/deals", cookies=jar).status_code == 200
    assert locked.get("/api/deals", cookies={SESSION_COOKIE: "forged"}).status_code == 401

    out = locked.post("/logout", cookies=jar)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    cleared = out.headers["set-cookie"]
    assert f'{SESSION_COOKIE}=""' in cleared or "Max-Age=0" in cleared


def test_a_new_token_ends_every_session(settings: Settings, store: DealStore,
                                         clock: FakeClock) -> None:
    old = {SESSION_COOKIE: session_value(SecretStr(TOKEN))}
    s = settings.model_copy(update={"web_token": SecretStr("a-brand-new-token-123")})
    api = Api(create_app(s, engine=store.engine, budget=None, clock=clock, alerts=None))
    assert api.get("/api/deals", cookies=old).status_code == 401


def test_static_files_and_the_login_form_are_open(locked: Api) -> None:
    assert locked.get("/static/app.css").status_code == 200
    assert locked.get("/static/app.js").status_code == 200
    assert locked.get("/login").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "evil", "",
                                    "/\\evil.example", "/ok\r\nSet-Cookie: x=1"])
def test_sign_in_never_redirects_off_site(locked: Api, target: str) -> None:
    r = locked.post("/login", data={"token": TOKEN, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert safe_next("/deals?q=x") == "/deals?q=x"


def test_without_a_token_the_login_form_goes_home(api: Api) -> None:
    assert api.get("/login").headers["location"] == "/"
    assert api.post("/login", data={"token": "x"}).headers["location"] == "/"


# --- secrets never reach a response ---------------------------------------------------

CRAWL = [
    "/", "/?min_profit=abc", "/?sort=roi&order=asc", "/health", "/health?hours=168",
    "/deals/B000000003", "/deals/B000000003?partial=1", "/deals/B099999999", "/login",
    "/api/deals", "/api/deals?limit=1000", "/api/deals/B000000003", "/api/deals/B099999999",
    "/api/health", "/api/series/tokens", "/api/series/deals", "/api/runs", "/api/categories",
    "/api/openapi.json", "/static/app.js", "/static/app.css", "/nowhere", "/api/nowhere",
]


def _assert_secret_free(r: Any, *secrets: str) -> None:
    text = r.text + "".join(f"{k}: {v}\n" for k, v in r.headers.items())
    for secret in secrets:
        assert secret not in text, f"{r.request.url} leaks a secret"


def test_the_keepa_key_is_in_no_response(api: Api, store: DealStore, clock: FakeClock) -> None:
    seed(store, clock)
    for path in CRAWL:
        r = api.get(path)
        assert r.status_code < 500, (path, r.status_code)
        _assert_secret_free(r, SECRET_KEY)


def test_neither_the_key_nor_the_web_token_is_in_any_response(
    locked: Api, store: DealStore, clock: FakeClock
) -> None:
    seed(store, clock)
    for path in CRAWL:
        for headers in ({}, bearer()):
            r = locked.get(path, headers=headers)
            assert r.status_code < 500, (path, r.status_code)
            _assert_secret_free(r, SECRET_KEY, TOKEN)
    r = locked.post("/login", data={"token": TOKEN, "next": "/"})
    _assert_secret_free(r, SECRET_KEY, TOKEN)


def test_a_budget_store_error_shows_no_password(
    store: DealStore, clock: FakeClock, db_url: str
) -> None:
    s = Settings(database_url=db_url, keepa_api_key=SECRET_KEY,
                 redis_url="redis://:hunter2password@127.0.0.1:1/0")
    api = Api(create_app(s, engine=store.engine, clock=clock, alerts=None))
    for path in ("/api/health", "/health", "/api/series/tokens"):
        r = api.get(path)
        assert r.status_code == 200
        _assert_secret_free(r, SECRET_KEY, "hunter2password")
    assert api.get("/api/health").json()["tokens"]["available"] is False
