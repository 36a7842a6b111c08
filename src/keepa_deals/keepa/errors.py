"""Errors from talking to Keepa.

::

    KeepaError
    ├── KeepaTransportError          no usable HTTP exchange happened; .sent: the request
    │   │                            may have reached Keepa (and been run and charged)
    │   └── KeepaTimeout             connect, read or pool timeout
    └── KeepaResponseError           Keepa answered; .status_code, .token_status
        ├── NotEnoughTokens          429: balance not positive, nothing charged
        ├── InvalidKey               400 because of the access key
        ├── PaymentRequired          402: the key has no (or an expired) plan
        ├── RequestRejected          400 / 405: Keepa's .error_type and message
        │   └── EndpointNotFound     404
        └── KeepaServerError         500, 503 (retried with backoff before it is raised)
            └── MalformedResponse    a non-JSON, truncated or mis-shaped body

    ConfigError (keepa_deals.errors)
    └── InvalidQuery                 a query refused before sending; .field names it

``InvalidQuery`` is a ``ConfigError``, not a ``KeepaError``: nothing was sent,
no token was spent, and retrying cannot help; the query (usually from a
settings or query file) has to change.

Messages never contain the access key: URLs are printed with ``key=***``.
"""

from __future__ import annotations

from keepa_deals.errors import ConfigError, KeepaDealsError
from keepa_deals.tokens.status import TokenStatus


class KeepaError(KeepaDealsError):
    """Base class of every error from talking to Keepa."""


class KeepaTransportError(KeepaError):
    """The request did not complete: connection refused, reset, DNS, TLS...

    ``sent`` is False only when the request certainly never reached Keepa (the
    connection was never made, or no connection was free): then nothing ran
    and nothing was charged.  Otherwise (a read timeout, a reset after
    sending) Keepa may have run the call and charged it: the reply is lost,
    not the call.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class KeepaTimeout(KeepaTransportError):
    """Keepa did not answer in time."""


class KeepaResponseError(KeepaError):
    """Keepa answered with an error status (or an unusable body)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        token_status: TokenStatus | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.token_status = token_status
        self.error_type = error_type
        self.error_message = error_message
        self.endpoint = endpoint


class NotEnoughTokens(KeepaResponseError):
    """429: Keepa refused the call because the balance is not positive."""


class InvalidKey(KeepaResponseError):
    """400 caused by the access key (malformed or unknown)."""


class PaymentRequired(KeepaResponseError):
    """402: the key does not grant access (no plan, or an expired one)."""


class RequestRejected(KeepaResponseError):
    """400 or 405: Keepa would not run the request as sent."""


class EndpointNotFound(RequestRejected):
    """404: no such endpoint."""


class KeepaServerError(KeepaResponseError):
    """500 or 503: Keepa failed (raised once the retries are used up)."""


class MalformedResponse(KeepaServerError):
    """The body was not the JSON Keepa promises (truncated, HTML, wrong shape)."""


class InvalidQuery(ConfigError):
    """A query that must not be sent: a wrong type, a missing field, too many ASINs.

    ``field`` is the offending field under Keepa's name (``"priceTypes"``,
    ``"asin"``...).
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid Keepa query: {field}: {problem}")
