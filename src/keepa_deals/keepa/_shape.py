"""Shape checks for parsing Keepa JSON: wrong shapes become MalformedResponse.

Small and fast on purpose: the deal parser calls these a few dozen times per
deal, thousands of deals a second.  ``what`` names the place in the reply
("deal B00X… current") so that the error says where the body was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.time import KEEPA_EPOCH

_MINUTE = timedelta(minutes=1)
#: Ids Keepa uses for "unknown category".
UNKNOWN_CATEGORY = 9223372036854775807


def fail(what: str, problem: str) -> NoReturn:
    raise MalformedResponse(f"malformed Keepa reply: {what}: {problem}", status_code=200)


def obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        fail(what, f"expected an object, got {type(value).__name__}")
    return value


def int_list(value: Any, what: str) -> list[int]:
    if type(value) is not list:
        fail(what, f"expected a list of integers, got {type(value).__name__}")
    # every element's type is exactly int (bool is not): the fastest such test in CPython
    if list(map(type, value)).count(int) != len(value):
        fail(what, "expected a list of integers, found other values")
    return value


def opt_int_list(d: Mapping[str, Any], key: str, what: str) -> list[int] | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is list and list(map(type, value)).count(int) == len(value):
        return value
    return int_list(value, f"{what} {key}")  # fails, naming the field


def opt_int(d: Mapping[str, Any], key: str, what: str) -> int | None:
    """An integer field; missing or null is None (sentinels are kept)."""
    value = d.get(key)
    if value is None or type(value) is int:
        return value
    fail(f"{what} {key}", f"expected an integer, got {type(value).__name__}")


def opt_value(d: Mapping[str, Any], key: str, what: str) -> int | None:
    """An integer value whose -1/-2 sentinels mean "none"."""
    value = opt_int(d, key, what)
    return None if value is None or value in (-1, -2) else value


def opt_number(d: Mapping[str, Any], key: str, what: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if type(value) is int or type(value) is float:
        return float(value)
    fail(f"{what} {key}", f"expected a number, got {type(value).__name__}")


def opt_str(d: Mapping[str, Any], key: str, what: str) -> str | None:
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    fail(f"{what} {key}", f"expected a string, got {type(value).__name__}")


def opt_bool(d: Mapping[str, Any], key: str, what: str) -> bool | None:
    value = d.get(key)
    if value is None or type(value) is bool:
        return value
    fail(f"{what} {key}", f"expected true or false, got {type(value).__name__}")


def minutes_to_datetime(minutes: int) -> datetime:
    """A Keepa minute as an aware UTC datetime (no sentinel handling)."""
    return KEEPA_EPOCH + minutes * _MINUTE


def opt_time(d: Mapping[str, Any], key: str, what: str) -> datetime | None:
    """A Keepa-minute field; missing, 0 and the negative sentinels are None."""
    value = opt_int(d, key, what)
    if value is None or value <= 0:
        return None
    return KEEPA_EPOCH + value * _MINUTE


def category(value: int | None) -> int | None:
    """A category id; 0 and Keepa's "unknown" id are None."""
    if value is None or value == 0 or value == UNKNOWN_CATEGORY:
        return None
    return value

