"""What goes on the wire: the token envelope, error bodies, gzip.

Every JSON body carries Keepa's seven token fields (in Keepa's order) and,
for errors, ``error {type, message, details}``.  Bodies are gzip-encoded
whenever the client accepts gzip, errors included (Keepa's Java client
decodes every body with ``GZIPInputStream``).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from keepa_deals.tokens.status import WIRE_FIELDS


class ApiError(Exception):
    """A request Keepa would refuse: status, error type and message."""

    def __init__(self, status: int, type: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {type}: {message}")
        self.status = status
        self.type = type
        self.message = message
        self.details = details

    def as_error(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "details": self.details}


def bad_request(message: str, type: str = "invalidParameter", details: str = "") -> ApiError:
    return ApiError(400, type, message, details)


def out_of_range(message: str, details: str = "") -> ApiError:
    return ApiError(405, "parameterOutOfRange", message, details)


#: Errors the sandbox can inject, by status: (error type, message).
INJECTED_ERRORS: dict[int, tuple[str, str]] = {
    400: ("REQUEST_REJECTED", "The request was rejected."),
    402: ("PAYMENT_REQUIRED", "The access key does not grant access."),
    404: ("NOT_FOUND", "Not found."),
    405: ("parameterOutOfRange", "A parameter is out of its allowed range."),
    500: ("INTERNAL_SERVER_ERROR", "An unexpected error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The backend is down, retry again."),
}


@dataclass(frozen=True, slots=True)
class TokenFields:
    """The account's side of the envelope."""

    tokens_left: int
    refill_in: int
    refill_rate: int
    token_flow_reduction: float

    @classmethod
    def zero(cls) -> TokenFields:
        return cls(0, 0, 0, 0.0)


def envelope(
    now_ms: int,
    fields: TokenFields,
    *,
    consumed: int = 0,
    processing_ms: int = 0,
    error: dict[str, str] | None = None,
) -> dict[str, Any]:
    values = (
        now_ms,
        fields.tokens_left,
        fields.refill_in,
        fields.refill_rate,
        float(fields.token_flow_reduction),
        consumed,
        processing_ms,
    )
    body: dict[str, Any] = dict(zip(WIRE_FIELDS, values, strict=True))
    if error is not None:
        body["error"] = error
    return body


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when the Accept-Encoding header offers gzip (with a non-zero q)."""
    if not accept_encoding:
        return False
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def encode(
    status: int,
    payload: bytes,
    *,
    media_type: str,
    gzip_ok: bool,
) -> Response:
    headers = {}
    if gzip_ok:
        payload = gzip.compress(payload, compresslevel=1)
        headers["content-encoding"] = "gzip"
        headers["vary"] = "Accept-Encoding"
    return Response(payload, status_code=status, media_type=media_type, headers=headers)


def json_response(status: int, body: dict[str, Any], *, gzip_ok: bool, truncate: bool = False) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    if truncate:
        data = data[: max(1, len(data) // 2)]
    return encode(status, data, media_type="application/json;charset=UTF-8", gzip_ok=gzip_ok)


_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out", 200: "OK", 429: "Too Many Requests"}


def html_response(status: int, *, gzip_ok: bool) -> Response:
    """An error page such as a proxy in front of Keepa might send."""
    reason = _REASONS.get(status, "Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return encode(status, page.encode("ascii"), media_type="text/html", gzip_ok=gzip_ok)
