"""What a Keepa reply means: the decoded body, its ``error`` object, and the
exception a non-200 status maps to (the tree in ``errors.py``).

The status code decides the exception; the body only adds detail.  A 503 with
an HTML body is a server error, not a malformed reply; a 200 with a body that
is not a JSON object is malformed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from keepa_deals.keepa.errors import (
    EndpointNotFound,
    InvalidKey,
    KeepaResponseError,
    KeepaServerError,
    NotEnoughTokens,
    PaymentRequired,
    RequestRejected,
)
from keepa_deals.tokens.status import TokenStatus

#: Keepa's names for the status codes, as its own clients print them.
STATUS_NAMES = {
    200: "OK",
    400: "REQUEST_REJECTED",
    402: "PAYMENT_REQUIRED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "NOT_ENOUGH_TOKEN",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

# A 400 names the key as its cause ("INVALID_KEY", "invalid access key"...).
_KEY_PROBLEM = re.compile(
    r"(?i)(access|api|invalid|missing|malformed|unknown)[ _-]?key"
    r"|key[ _-]?(invalid|unknown|missing|malformed)"
)


@dataclass(frozen=True, slots=True)
class KeepaErrorInfo:
    """The ``error`` object of a Keepa reply (also possible on a 200)."""

    type: str | None
    message: str | None
    details: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> KeepaErrorInfo | None:
        if not isinstance(body, Mapping):
            return None
        err = body.get("error")
        if err is None:
            return None
        if not isinstance(err, Mapping):
            return cls(type=None, message=_text(err), details=None)
        return cls(
            type=_text(err.get("type")),
            message=_text(err.get("message")),
            details=_text(err.get("details")),
        )

    def describe(self, *, besides: str | None = None) -> str:
        """``type: message: details``, leaving out empty parts and a type equal to ``besides``."""
        parts = (self.type if self.type != besides else None, self.message, self.details)
        return ": ".join(p for p in parts if p)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


@dataclass(frozen=True, slots=True)
class KeepaResponse:
    """One successful (HTTP 200) Keepa reply."""

    endpoint: str
    status_code: int
    body: dict[str, Any]
    token_status: TokenStatus | None
    elapsed_s: float

    @property
    def error(self) -> KeepaErrorInfo | None:
        """Keepa's ``error`` object: on a 200 it reports a partial failure."""
        return KeepaErrorInfo.from_body(self.body)


#: Digits to "0" and "-" to "0": an integer outside 64 bits becomes a run of 20 zeros.
_DIGIT_RUNS = bytes.maketrans(b"-123456789", b"0000000000")
_LONG_RUN = b"0" * 20
_UNDECIDED = object()


def _fast_loads(content: bytes) -> Any:
    """orjson's decoding where it equals the json module's, else ``_UNDECIDED``.

    orjson is several times faster on Keepa's integer arrays.  Whatever it
    refuses (NaN, lone surrogates, a BOM, UTF-16, too deep...) is left to the
    json module; so are bodies that may hold an integer outside
    [-2**63, 2**64) (at least 20 digits, or a minus and 19), which orjson would
    turn into a float where the json module keeps an int.
    """
    if _LONG_RUN in content.translate(_DIGIT_RUNS):
        return _UNDECIDED
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return _UNDECIDED


def decode_body(content: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The body as a JSON object, or (None, what is wrong with it)."""
    if not content:
        return None, "an empty body"
    body = _fast_loads(content)
    if body is _UNDECIDED:
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            return None, f"a body that is not JSON ({len(content)} bytes: truncated or not JSON)"
    if not isinstance(body, dict):
        return None, f"a JSON {type(body).__name__} where an object was expected"
    return body, None


def is_key_problem(endpoint: str, info: KeepaErrorInfo | None) -> bool:
    """Whether a 400 is about the access key (the only parameter /token takes)."""
    if endpoint == "token":
        return True
    if info is None:
        return False
    return bool(_KEY_PROBLEM.search(f"{info.type or ''} {info.message or ''}"))


def error_for(
    endpoint: str,
    code: int,
    body: dict[str, Any] | None,
    problem: str | None,
    status: TokenStatus | None,
    *,
    redact: Callable[[str], str],
) -> KeepaResponseError:
    """The exception for a non-200 reply; every text in it passes through ``redact``."""
    info = KeepaErrorInfo.from_body(body)
    name = STATUS_NAMES.get(code, "UNEXPECTED_STATUS")
    detail = info.describe(besides=name) if info else (
        f"no error details ({problem})" if problem else ""
    )
    message = f"Keepa /{endpoint} answered {code} {name}"
    if detail:
        message += f": {detail}"
    if status is not None:
        message += (f" (tokensLeft={status.tokens_left}, "
                    f"refill in {status.refill_in_ms / 1000:.1f} s)")
    cls: type[KeepaResponseError]
    if code == 429:
        cls = NotEnoughTokens
    elif code == 400 and is_key_problem(endpoint, info):
        cls = InvalidKey
    elif code == 402:
        cls = PaymentRequired
    elif code == 404:
        cls = EndpointNotFound
    elif 400 <= code < 500:
        cls = RequestRejected
    elif code >= 500:
        cls = KeepaServerError
    else:
        cls = KeepaResponseError
    return cls(
        redact(message),
        status_code=code,
        token_status=status,
        error_type=info.type if info else None,
        error_message=redact(info.message) if info and info.message else None,
        endpoint=endpoint,
    )
