"""How long one Keepa call may take, every retry included.

The HTTP client is built from these settings (``KeepaHTTP.timing``), and the
budget's lease lifetime is derived from the same values: a lease must outlive
the longest call it covers, or a charge Keepa made could stop counting before
its reply arrives.  Raising the timeout, the retries or the backoff therefore
lengthens the leases too; nothing copies these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keepa_deals.settings import Settings


@dataclass(frozen=True, slots=True)
class CallTiming:
    """The HTTP timeout, the retries and the bounds of the backoff between them."""

    #: seconds one attempt may take (connect, read or pool)
    timeout_s: float = 30.0
    #: attempts after the first, for transport errors and 5xx replies
    retries: int = 4
    #: the first pause between attempts (doubling, with jitter up to this much)
    backoff_initial_s: float = 0.5
    #: no pause between attempts is longer
    backoff_max_s: float = 10.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> CallTiming:
        """``HTTP_TIMEOUT_S`` and ``HTTP_RETRIES``; the backoff bounds are the defaults."""
        return cls(timeout_s=float(settings.http_timeout_s), retries=int(settings.http_retries))

    @property
    def longest_call_s(self) -> float:
        """Every attempt timing out, with the longest pause before each retry."""
        return self.timeout_s * (self.retries + 1) + self.backoff_max_s * self.retries
