"""Reading request parameters the way Keepa validates them.

Malformed or missing values are 400 (REQUEST_REJECTED); well-formed values
outside the allowed range are 405 (Keepa's "parameter out of range").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keepa_deals.sandbox.wire import bad_request, out_of_range

#: Amazon locales (the enum ordinal); 7 (former China) is not served.
DOMAINS = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12})
#: Every locale but Brazil (12), which has no /deal, /seller or /bestsellers (Keepa lists
#: none there). [C]
NO_BR_DOMAINS = DOMAINS - {12}
#: /deal serves no Brazil.
DEAL_DOMAINS = NO_BR_DOMAINS


def as_int(value: Any, name: str) -> int:
    """An integer from a query string or JSON value; 400 otherwise."""
    if isinstance(value, bool):
        raise bad_request(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise bad_request(f"{name} must be an integer", details=f"got {value!r}"[:80])


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return as_int(raw, name)


def flag_param(params: Mapping[str, str], name: str) -> bool:
    value = int_param(params, name, 0)
    if value not in (0, 1):
        raise out_of_range(f"{name} must be 0 or 1")
    return value == 1


def domain_param(value: Any, name: str, allowed: frozenset[int] = DOMAINS) -> int:
    if value is None or value == "":
        raise bad_request(f"{name} is required", type="missingParameter")
    domain = as_int(value, name)
    if domain not in allowed:
        raise bad_request(f"{name} {domain} is not a supported Amazon locale")
    return domain
