"""The shared token budget: Keepa is the authority, our state a projection of it.

The errors and the :class:`TokenBudget` protocol live in :mod:`keepa_deals.tokens`,
the leaf the Keepa client imports too; they are re-exported here.
"""

from keepa_deals.budget.factory import open_budget, open_budget_store
from keepa_deals.budget.manager import TokenManager
from keepa_deals.tokens.errors import (
    BudgetError,
    BudgetStoreUnavailable,
    CostExceedsCapError,
    TokenRechargeError,
)
from keepa_deals.tokens.protocol import Lease, TokenBudget

__all__ = [
    "BudgetError",
    "BudgetStoreUnavailable",
    "CostExceedsCapError",
    "Lease",
    "TokenBudget",
    "TokenManager",
    "TokenRechargeError",
    "open_budget",
    "open_budget_store",
]
