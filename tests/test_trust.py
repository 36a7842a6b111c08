"""The trust score is a lower confidence bound: few ratings are not trusted like many."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keepa_deals.trust import trust_score


def test_five_perfect_ratings_do_not_beat_five_thousand_at_98() -> None:
    few, many = trust_score(100, 5), trust_score(98, 5000)
    assert few is not None and many is not None and few < many
    assert (few, many) == (56.6, 97.6)


def test_no_ratings_is_no_trust_and_no_data_is_unknown() -> None:
    assert trust_score(100, 0) == 0.0
    assert trust_score(None, 10) is None and trust_score(90, None) is None


@given(p=st.integers(0, 100), n=st.integers(1, 10**6), more=st.integers(1, 10**6))
def test_more_ratings_at_the_same_share_never_lower_the_score(p: int, n: int, more: int) -> None:
    low, high = trust_score(p, n), trust_score(p, n + more)
    assert low is not None and high is not None
    assert 0 <= low <= high <= p + 0.05
