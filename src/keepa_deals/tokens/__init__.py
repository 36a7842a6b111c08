"""What the Keepa client and the token budget both speak: the leaf under both.

::

    status.py      TokenStatus: the token fields of every Keepa reply
    economics.py   the bucket's arithmetic: refills, projection, waits, cap
    costs.py       what a call costs (the client's estimate before sending)
    protocol.py    TokenBudget and Lease: what the client spends through
    errors.py      BudgetError and its subclasses, raised through TokenBudget
    timing.py      CallTiming: how long one call may take (HTTP client and lease lifetime)

This package imports nothing else of keepa_deals but :mod:`keepa_deals.errors`;
``keepa`` and ``budget`` import it, never each other's internals.
"""

from keepa_deals.tokens.errors import (
    BudgetError,
    BudgetStoreUnavailable,
    CostExceedsCapError,
    TokenRechargeError,
)
from keepa_deals.tokens.protocol import Lease, TokenBudget
from keepa_deals.tokens.status import TokenStatus
from keepa_deals.tokens.timing import CallTiming

__all__ = [
    "BudgetError",
    "BudgetStoreUnavailable",
    "CallTiming",
    "CostExceedsCapError",
    "Lease",
    "TokenBudget",
    "TokenRechargeError",
    "TokenStatus",
]
