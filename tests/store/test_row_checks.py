"""The row checks' fast path (a few C-level passes) accepts exactly what the
field-by-field checks accept, and hands on the same values."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keepa_deals.store import DealRow, InvalidDealRow
from keepa_deals.store.rows import _checked, row_params

_EDGE_INTS = st.sampled_from([0, 1, -1, -2, 2**31 - 1, 2**31, -(2**31 - 1), 2**63 - 1, 2**63])
_VALUES = st.one_of(
    st.none(), st.booleans(), _EDGE_INTS, st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
    st.sampled_from(["a\x00b", "a\ud83db", "é", "\ud83d\ude00"]),
    st.sampled_from([datetime(2027, 1, 1), datetime(2027, 1, 1, tzinfo=UTC),
                     datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=2))),
                     datetime(2027, 1, 1, tzinfo=timezone(timedelta(seconds=30)))]),
)
_NAMES = [f.name for f in fields(DealRow) if f.name not in ("asin", "domain_id")]


@settings(max_examples=400)
@given(st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=6))
def test_the_fast_path_agrees_with_the_field_by_field_checks(changes: dict[str, Any]) -> None:
    row = DealRow(asin="B000000001", title="t", current_price_cents=100, profit_cents=-5,
                  roi_percent=1.5, last_seen_in_feed=datetime(2027, 1, 1, tzinfo=UTC))
    for name, value in changes.items():
        setattr(row, name, value)
    base = {f.name: getattr(row, f.name) for f in fields(DealRow)}
    try:
        expected: Any = _checked(dict(base), row.asin)
    except InvalidDealRow as exc:
        expected = ("refused", exc.field)
    try:
        got: Any = row_params(row)
    except InvalidDealRow as exc:
        got = ("refused", exc.field)
    assert got == expected
    if isinstance(got, dict):  # the same types too (1 == 1.0 == True in Python)
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_text_is_made_storable_and_times_become_plain_utc() -> None:
    class Stamp(datetime):
        pass

    odd = timezone(timedelta(seconds=30))
    row = DealRow(asin="B000000001", title="a\x00b\ud83dc", category_name="Bücher",
                  last_seen_in_feed=datetime(2027, 1, 1, 0, 0, 30, tzinfo=odd),
                  keepa_last_update=Stamp(2027, 1, 1, tzinfo=UTC))
    p = row_params(row)
    assert p["title"] == "ab\ufffdc" and p["category_name"] == "Bücher"
    assert p["last_seen_in_feed"] == datetime(2027, 1, 1, tzinfo=UTC)
    assert p["last_seen_in_feed"].tzinfo is UTC
    assert type(p["keepa_last_update"]) is datetime
