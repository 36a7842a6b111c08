"""KeepaHTTP: the wire to Keepa, and nothing else.

One ``httpx.Client`` (keep-alive, gzip) per instance.  :meth:`KeepaHTTP.request`
returns the decoded body with its :class:`TokenStatus`, or raises one of the
errors in ``keepa/errors.py``; no httpx exception ever reaches a caller.

* The access key is added as the ``key`` query parameter by the transport, on
  a copy of the request, just before it goes on the wire.  httpx's own request
  objects, its ``HTTP Request: ...`` log line and its exceptions therefore
  never hold it, and every text we produce passes through ``redact`` as well.
* Every reply with token fields (200, 429, and errors with a JSON body) yields
  a ``TokenStatus`` that is handed to the registered listeners before the
  reply is returned or raised.
* Retries (``retries`` times, jittered bounded exponential backoff, tenacity)
  only where a retry cannot pay twice: a request that never left (a refused
  connection, a connect or pool timeout), and anything on a free call
  (``/token``).  A paid call whose request was sent (a read timeout, a reset,
  a 5xx) goes back to the caller, which knows the budget: Keepa may have run
  and charged it (see ``KeepaClient``).  4xx replies, 429 included, are never
  retried.

Spending tokens goes through ``KeepaClient`` (``client.py``), which holds a
budget lease around each call; this layer knows nothing about budgets.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from keepa_deals import __version__
from keepa_deals.clock import SYSTEM_CLOCK
from keepa_deals.errors import ConfigError
from keepa_deals.keepa.errors import (
    KeepaServerError,
    KeepaTimeout,
    KeepaTransportError,
    MalformedResponse,
    NotEnoughTokens,
)
from keepa_deals.keepa.redact import MASK, display_url, redact
from keepa_deals.keepa.replies import KeepaErrorInfo, KeepaResponse, decode_body, error_for
from keepa_deals.settings import DEFAULT_API_URL
from keepa_deals.tokens.status import TokenStatus
from keepa_deals.tokens.timing import CallTiming

DEFAULT_TIMING = CallTiming()

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

log = logging.getLogger(__name__)

StatusListener = Callable[[TokenStatus], None]
#: ``listener(endpoint, status, seconds)`` per attempt; status is the HTTP code, "timeout" or "error"
RequestListener = Callable[[str, str, float], None]

_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

class _KeyTransport(httpx.BaseTransport):
    """Adds ``key=<access key>`` to a copy of each request, at the wire."""

    def __init__(self, inner: httpx.BaseTransport, key: SecretStr) -> None:
        self._inner = inner
        self._key = key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        keyed = httpx.Request(
            request.method,
            request.url.copy_add_param("key", self._key.get_secret_value()),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(keyed)

    def close(self) -> None:
        self._inner.close()

    def __repr__(self) -> str:
        return f"_KeyTransport({self._inner!r}, key={MASK})"


class KeepaHTTP:
    """The HTTP layer: one Keepa request in, one decoded reply (or our error) out.

    ``sleep`` is what the retry backoff sleeps with (``FakeClock.sleep`` in
    tests); ``transport`` replaces httpx's network transport (tests pass
    ``httpx.MockTransport``).  Environment proxies are not used: the key is
    added by our transport, and a proxy transport would bypass it.
    """

    def __init__(
        self,
        key: str | SecretStr,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout_s: float = DEFAULT_TIMING.timeout_s,
        retries: int = DEFAULT_TIMING.retries,
        backoff_initial_s: float = DEFAULT_TIMING.backoff_initial_s,
        backoff_max_s: float = DEFAULT_TIMING.backoff_max_s,
        sleep: Callable[[float], None] = SYSTEM_CLOCK.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        secret = key if isinstance(key, SecretStr) else SecretStr(key)
        if not secret.get_secret_value().strip():
            raise ConfigError("KEEPA_API_KEY is empty")
        #: the one record of how long a call may take (the budget's leases are sized from it)
        self.timing = CallTiming(float(timeout_s), int(retries), float(backoff_initial_s),
                                 float(backoff_max_s))
        self._key = SecretStr(secret.get_secret_value().strip())
        self.base_url = base_url.rstrip("/")
        self.timeout_s = self.timing.timeout_s
        self.retries = self.timing.retries
        self._sleep = sleep
        self._listeners: list[StatusListener] = []
        self._request_listeners: list[RequestListener] = []
        self._listeners_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=_KeyTransport(transport or httpx.HTTPTransport(), self._key),
            timeout=httpx.Timeout(self.timeout_s),
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": f"keepa-deals/{__version__}",
            },
            follow_redirects=False,
            trust_env=False,
        )

    # --- construction -------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> KeepaHTTP:
        """A client for ``settings.keepa_api_url`` with the key, timeout and retries set there."""
        key = settings.require_api_key()  # unset or malformed: ConfigError, no network
        timing = CallTiming.from_settings(settings)
        kwargs.setdefault("timeout_s", timing.timeout_s)
        kwargs.setdefault("retries", timing.retries)
        return cls(SecretStr(key), base_url=settings.keepa_api_url, **kwargs)

    def __repr__(self) -> str:
        return (
            f"KeepaHTTP(base_url={self.base_url!r}, key={MASK}, "
            f"timeout_s={self.timeout_s}, retries={self.retries})"
        )

    def __enter__(self) -> KeepaHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- listeners ------------------------------------------------------------

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener(status)`` for every reply that carries token fields."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        with self._listeners_lock:
            self._listeners.remove(listener)

    def add_request_listener(self, listener: RequestListener) -> None:
        """Call ``listener(endpoint, status, seconds)`` after every attempt (metrics)."""
        with self._listeners_lock:
            self._request_listeners.append(listener)

    def _notify_request(self, endpoint: str, status: str, started: float) -> None:
        with self._listeners_lock:
            listeners = list(self._request_listeners)
        for listener in listeners:
            try:
                listener(endpoint, status, time.perf_counter() - started)
            except Exception as exc:  # metrics must not cost us a reply
                log.warning("request listener %r failed: %s", listener, type(exc).__name__)

    def _notify(self, status: TokenStatus | None) -> None:
        if status is None:
            return
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception as exc:  # a listener must not cost us a paid-for reply
                log.warning("token status listener %r failed: %s", listener,
                            self._redact(f"{type(exc).__name__}: {exc}"))

    # --- requests ---------------------------------------------------------------

    def token_status(self) -> TokenStatus:
        """``GET /token`` (free): the key's current token status.

        A 429 answers the question too (its body is the token envelope), so
        its status is returned rather than raised: asking for the balance
        must work best exactly when the balance is spent.
        """
        try:
            reply = self.request("token")
        except NotEnoughTokens as exc:
            if exc.token_status is None:
                raise
            return exc.token_status
        if reply.token_status is None:
            raise MalformedResponse(
                "Keepa /token answered without token fields",
                status_code=reply.status_code,
                endpoint="token",
            )
        return reply.token_status

    def request(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        *,
        json_body: Any = None,
        paid: bool | None = None,
    ) -> KeepaResponse:
        """Send one Keepa request (GET, or POST when ``json_body`` is given).

        ``params`` values may be str, int, float, bool (sent as 1/0) or a list
        (sent comma-separated); None values are left out.  ``paid`` (by
        default every endpoint but ``token``) says the call may cost tokens.
        A request that never left is retried; a free one also after a
        transport error or a 5xx; everything else is returned or raised at
        once (docs/keepa-client.md, "Retries").
        """
        if not _ENDPOINT.match(endpoint):
            raise ValueError(f"not a Keepa endpoint name: {endpoint!r}")
        query = _query(params)
        paid = endpoint != "token" if paid is None else paid
        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.retries + 1),
            wait=self._backoff,
            retry=retry_if_exception(lambda exc: _retryable(exc, paid=paid)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._attempt, endpoint, query, json_body)

    def _backoff(self, state: RetryCallState) -> float:
        """initial × 2^(n-1) plus up to ``initial`` of jitter, never above the maximum."""
        initial = self.timing.backoff_initial_s
        delay = initial * float(2 ** (state.attempt_number - 1)) + random.uniform(0, initial)
        return min(self.timing.backoff_max_s, delay)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Keepa request failed (%s), retry %d of %d in %.2f s",
            self._redact(f"{type(exc).__name__}: {exc}"), state.attempt_number, self.retries, delay,
        )

    def _attempt(self, endpoint: str, query: dict[str, str], json_body: Any) -> KeepaResponse:
        method = "GET" if json_body is None else "POST"
        shown = display_url(self.base_url, endpoint, query)
        started = time.perf_counter()
        try:
            request = self._client.build_request(method, f"/{endpoint}", params=query,
                                                 json=json_body)
            response = self._client.send(request, stream=True)
            try:
                content = response.read()
                decode_problem = None
            except httpx.DecodingError as exc:
                content, decode_problem = b"", f"an undecodable body ({type(exc).__name__})"
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            self._notify_request(endpoint, "timeout", started)
            raise KeepaTimeout(self._redact(
                f"Keepa {method} {shown} timed out after {self.timeout_s:g} s "
                f"({type(exc).__name__})"
            ), sent=not isinstance(exc, _NOT_SENT)) from None
        except httpx.HTTPError as exc:
            self._notify_request(endpoint, "error", started)
            raise KeepaTransportError(self._redact(
                f"cannot reach Keepa at {shown}: {type(exc).__name__}: {exc}"
            ), sent=not isinstance(exc, _NOT_SENT)) from None
        elapsed = time.perf_counter() - started
        self._notify_request(endpoint, str(response.status_code), started)

        body, problem = decode_body(content) if decode_problem is None else (None, decode_problem)
        status = TokenStatus.from_body(body)
        code = response.status_code
        log.debug(
            "Keepa %s %s -> %d in %.3f s%s", method, shown, code, elapsed,
            f" (tokensLeft={status.tokens_left}, consumed={status.tokens_consumed})"
            if status else "",
        )
        self._notify(status)
        if code == 200:
            if body is None:
                raise MalformedResponse(
                    f"Keepa /{endpoint} answered 200 with {problem}",
                    status_code=code, token_status=status, endpoint=endpoint,
                )
            return KeepaResponse(endpoint, code, body, status, elapsed)
        raise error_for(endpoint, code, body, problem, status, redact=self._redact)

    def _redact(self, text: str) -> str:
        return redact(text, self._key.get_secret_value())


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (params or {}).items():
        if name.lower() == "key":
            raise ValueError("the access key is added by KeepaHTTP; do not pass it as a parameter")
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


#: httpx failures raised before the request went out: Keepa never saw it
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _retryable(exc: BaseException, *, paid: bool) -> bool:
    """Retry what cannot cost twice: a request that never left, or any free call."""
    if isinstance(exc, KeepaTransportError):
        return not exc.sent or not paid
    return (
        not paid
        and isinstance(exc, KeepaServerError)
        and exc.status_code is not None
        and exc.status_code >= 500
    )


__all__ = [
    "KeepaErrorInfo",
    "KeepaHTTP",
    "KeepaResponse",
    "RequestListener",
    "StatusListener",
]
