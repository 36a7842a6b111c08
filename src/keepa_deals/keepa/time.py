"""Keepa time: minutes since 2011-01-01T00:00Z."""

from __future__ import annotations

from datetime import UTC, datetime

KEEPA_EPOCH_MINUTES = 21_564_000  # Unix minutes at 2011-01-01T00:00:00Z
KEEPA_EPOCH = datetime(2011, 1, 1, tzinfo=UTC)


def keepa_minutes_to_unix_ms(minutes: int) -> int:
    return (minutes + KEEPA_EPOCH_MINUTES) * 60_000


def unix_ms_to_keepa_minutes(ms: int) -> int:
    return ms // 60_000 - KEEPA_EPOCH_MINUTES


def keepa_minutes_to_datetime(minutes: int | None) -> datetime | None:
    """A Keepa minute as an aware UTC datetime; the sentinels -1/-2 and 0 become None."""
    if minutes is None or minutes <= 0:
        return None
    return datetime.fromtimestamp(keepa_minutes_to_unix_ms(minutes) / 1000, tz=UTC)


def datetime_to_keepa_minutes(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetime_to_keepa_minutes needs an aware datetime")
    return unix_ms_to_keepa_minutes(int(dt.timestamp() * 1000))
