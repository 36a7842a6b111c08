"""TokenStatus: the token fields every Keepa JSON response carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

#: Keepa's wire names, in the order Keepa sends them.
WIRE_FIELDS = (
    "timestamp",
    "tokensLeft",
    "refillIn",
    "refillRate",
    "tokenFlowReduction",
    "tokensConsumed",
    "processingTimeInMs",
)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What Keepa said about the key's tokens in one response.

    ``tokens_left`` already includes the cost of the call that returned it and
    may be negative.  ``refill_in_ms`` counts down to the next per-minute
    refill; ``timestamp_ms`` is Keepa's clock (Unix epoch milliseconds).
    """

    tokens_left: int
    refill_in_ms: int
    refill_rate: int
    timestamp_ms: int
    token_flow_reduction: float = 0.0
    tokens_consumed: int = 0
    processing_time_ms: int = 0

    @classmethod
    def from_body(cls, body: Any) -> TokenStatus | None:
        """Read the token fields of a decoded response body.

        Returns ``None`` when the body carries no token information: fields
        missing or of the wrong type, or the all-zero fields some error replies
        carry (those mean "no information", never "a balance of 0").
        """
        if not isinstance(body, Mapping):
            return None
        tokens = _as_int(body.get("tokensLeft"))
        refill_in = _as_int(body.get("refillIn"))
        rate = _as_int(body.get("refillRate"))
        ts = _as_int(body.get("timestamp"))
        if tokens is None or refill_in is None or rate is None or ts is None:
            return None
        if tokens == 0 and refill_in == 0 and rate == 0:
            return None
        if ts <= 0 or rate < 0 or refill_in < 0:
            return None
        tfr = body.get("tokenFlowReduction", 0.0)
        if isinstance(tfr, bool) or not isinstance(tfr, int | float):
            tfr = 0.0
        return cls(
            tokens_left=tokens,
            refill_in_ms=refill_in,
            refill_rate=rate,
            timestamp_ms=ts,
            token_flow_reduction=float(tfr),
            tokens_consumed=_as_int(body.get("tokensConsumed")) or 0,
            processing_time_ms=_as_int(body.get("processingTimeInMs")) or 0,
        )

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    @property
    def next_refill_ms(self) -> int:
        """Keepa's clock at the next refill."""
        return self.timestamp_ms + self.refill_in_ms

    def to_wire(self) -> dict[str, Any]:
        """The status under Keepa's own names (what ``tokens sync --json`` prints)."""
        return {
            "timestamp": self.timestamp_ms,
            "tokensLeft": self.tokens_left,
            "refillIn": self.refill_in_ms,
            "refillRate": self.refill_rate,
            "tokenFlowReduction": self.token_flow_reduction,
            "tokensConsumed": self.tokens_consumed,
            "processingTimeInMs": self.processing_time_ms,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
