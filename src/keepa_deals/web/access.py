"""Who may see the dashboard.

* No access token set (``KEEPA_DEALS_WEB_TOKEN``): the dashboard serves loopback only.
  ``keepa-deals serve`` refuses any other address (:func:`check_bind`), and requests whose
  ``Host`` is not a loopback name are refused, so a web page elsewhere cannot reach it
  through DNS rebinding.
* A token set: every request needs it, as ``Authorization: Bearer <token>`` (scripts) or
  as the session cookie the login form sets (people).  The cookie holds an HMAC of the
  token, never the token; changing the token ends every session.  ``/login`` and the
  static files (CSS, JS: nothing private) are the only open paths.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from keepa_deals.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "keepa_deals_session"
#: Sessions last this long (seconds).
SESSION_MAX_AGE_S = 30 * 24 * 3600
MIN_TOKEN_LENGTH = 12
OPEN_PREFIXES = ("/login", "/static/")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

_SESSION_CONTEXT = b"keepa-deals web session v1"


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    """Refuse to serve a non-loopback address without an access token (ConfigError)."""
    if not is_loopback(host) and token is None:
        raise ConfigError(
            f"refusing to serve the dashboard on {host} without an access token: set "
            "KEEPA_DEALS_WEB_TOKEN (at least 12 characters), or bind to 127.0.0.1"
        )


def session_value(token: SecretStr) -> str:
    """What the session cookie holds for ``token``."""
    return hmac.new(token.get_secret_value().encode(), _SESSION_CONTEXT, hashlib.sha256).hexdigest()


def token_matches(token: SecretStr, given: str) -> bool:
    return hmac.compare_digest(token.get_secret_value().encode(), given.encode())


def safe_next(target: str | None) -> str:
    """A local path to go back to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 for ch in target):
        return "/"
    return target


class AccessMiddleware:
    """Enforces the rules in the module docstring on every HTTP request."""

    def __init__(self, app: ASGIApp, token: SecretStr | None) -> None:
        self.app = app
        self.token = token
        self._session = session_value(token) if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if self.token is None:
            if not _loopback_host(headers.get("host", "")):
                await _plain(send, 400, "this dashboard answers only on a loopback address")
                return
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(OPEN_PREFIXES) or self._allowed(headers):
            await self.app(scope, receive, send)
            return
        if path.startswith("/api"):
            body = json.dumps({"detail": "authentication required: send Authorization: Bearer "
                                         "<KEEPA_DEALS_WEB_TOKEN>"}).encode()
            await _respond(send, 401, body, "application/json",
                           [(b"www-authenticate", b'Bearer realm="keepa-deals"')])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        location = "/login?next=" + quote(target, safe="")
        await _respond(send, 303, b"", "text/plain", [(b"location", location.encode())])

    def _allowed(self, headers: dict[str, str]) -> bool:
        assert self.token is not None and self._session is not None
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and given and token_matches(self.token, given.strip()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no session
            return False
        morsel = cookie.get(SESSION_COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self._session)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if host.startswith("[") and "]" in host:
        name = host[: host.index("]") + 1]
    return name.lower() in LOOPBACK_NAMES or is_loopback(name)


async def _plain(send: Send, status: int, text: str) -> None:
    await _respond(send, status, text.encode(), "text/plain; charset=utf-8", [])


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
