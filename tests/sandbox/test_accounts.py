"""Token arithmetic of a sandbox account, on explicit (fake) time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import DEMO_KEY, Sandbox, fingerprint, is_well_formed_key
from keepa_deals.sandbox.accounts import Account, AccountBook, next_tick_after
from tests.sandbox.conftest import KEY, PHASE, START_MS

MIN = 60_000


def make(tokens: int = 10, rate: int = 5, **kw: object) -> Account:
    return AccountBook().create(KEY, START_MS, tokens=tokens, refill_rate=rate, phase_ms=PHASE, **kw)  # type: ignore[arg-type]


def test_refills_happen_at_the_accounts_phase() -> None:
    acc = make(tokens=10, rate=5)
    before = acc.state(START_MS + PHASE - 1)
    assert before.tokens == 10 and before.refill_in_ms == 1
    at = acc.state(START_MS + PHASE)
    assert at.tokens == 15 and at.refill_in_ms == MIN
    assert acc.state(START_MS + PHASE + MIN - 1).tokens == 15
    assert acc.state(START_MS + PHASE + 10 * MIN).tokens == 10 + 11 * 5
    assert acc.state(START_MS + PHASE + 10 * MIN).tokens_refilled == 55


@given(phase=st.integers(0, MIN - 1), t=st.integers(0, 10 * MIN))
def test_refill_in_is_always_within_one_minute(phase: int, t: int) -> None:
    acc = AccountBook().create(KEY, START_MS, tokens=0, refill_rate=1, phase_ms=phase)
    s = acc.state(START_MS + t)
    assert 0 < s.refill_in_ms <= MIN
    assert (s.now_ms + s.refill_in_ms) % MIN == phase


def test_next_tick_is_strictly_after_now() -> None:
    assert next_tick_after(START_MS + PHASE, PHASE) == START_MS + PHASE + MIN
    assert next_tick_after(START_MS + PHASE - 1, PHASE) == START_MS + PHASE


def test_refill_is_clamped_to_sixty_times_the_rate() -> None:
    acc = make(tokens=290, rate=5)
    s = acc.state(START_MS + PHASE + 10 * MIN)
    assert s.cap == 300 and s.tokens == 300 and s.tokens_refilled == 10


def test_a_balance_above_the_cap_after_a_downgrade_is_not_cut() -> None:
    acc = make(tokens=300, rate=5)
    acc.update(START_MS, refill_rate=2)  # cap now 120
    assert acc.state(START_MS + PHASE + 5 * MIN).tokens == 300


def test_no_admission_at_zero_or_below_and_nothing_charged() -> None:
    for tokens in (0, -7):
        acc = make(tokens=tokens)
        assert acc.try_admit(START_MS) is False
        s = acc.state(START_MS)
        assert s.tokens == tokens and s.refused == 1 and s.tokens_consumed == 0


def test_a_positive_balance_runs_a_costly_call_into_deficit() -> None:
    acc = make(tokens=1)
    assert acc.try_admit(START_MS)
    assert acc.charge(30, START_MS) == 30
    s = acc.state(START_MS)
    assert s.tokens == -29 and s.min_balance == -29 and s.tokens_consumed == 30
    assert acc.try_admit(START_MS) is False


def test_concurrent_requests_all_pass_while_positive() -> None:
    """Admission is on arrival: three calls admitted at 1 token all get charged afterwards."""
    acc = make(tokens=1)
    assert all(acc.try_admit(START_MS) for _ in range(3))
    for _ in range(3):
        acc.charge(10, START_MS)
    assert acc.state(START_MS).tokens == -29


def test_refills_pay_a_deficit_back_minute_by_minute() -> None:
    acc = make(tokens=-12, rate=5)
    assert acc.state(START_MS + PHASE + 1 * MIN).tokens == -2
    assert acc.try_admit(START_MS + PHASE + 1 * MIN) is False
    assert acc.try_admit(START_MS + PHASE + 2 * MIN) is True  # 3 tokens


def test_a_rate_change_is_not_retroactive() -> None:
    acc = make(tokens=0, rate=5)
    acc.update(START_MS + PHASE + 2 * MIN, refill_rate=20)  # 3 refills at 5 already owed
    assert acc.state(START_MS + PHASE + 2 * MIN).tokens == 15
    assert acc.state(START_MS + PHASE + 3 * MIN).tokens == 35
    assert acc.state(START_MS + PHASE + 3 * MIN).cap == 1200


def test_token_flow_reduction_lowers_the_refill_by_its_rounded_value() -> None:
    acc = make(tokens=0, rate=10, token_flow_reduction=3.4)
    s = acc.state(START_MS + PHASE)
    assert s.tokens == 7 and s.refill_rate == 10 and s.token_flow_reduction == 3.4
    assert s.net_refill_rate == 7 and s.cap == 600


def test_a_phase_change_moves_the_next_refill() -> None:
    acc = make(tokens=0, rate=5)
    acc.update(START_MS + 1000, phase_ms=30_000)
    assert acc.state(START_MS + 1000).refill_in_ms == 29_000
    assert acc.state(START_MS + PHASE).tokens == 0
    assert acc.state(START_MS + 30_000).tokens == 5


def test_an_optional_floor_bounds_the_deficit() -> None:
    acc = make(tokens=5, floor=-20)
    assert acc.charge(100, START_MS) == 25
    assert acc.state(START_MS).tokens == -20 == acc.state(START_MS).min_balance
    acc.update(START_MS, clear_floor=True)
    assert acc.charge(100, START_MS) == 100


def test_counters() -> None:
    acc = make(tokens=10)
    acc.record("product", 200)
    acc.record("product", 200)
    acc.record("deal", 429)
    s = acc.state(START_MS)
    assert s.requests_to("product") == 2 and s.requests_to("deal", 429) == 1
    assert s.requests_to("token") == 0
    counters = s.as_dict()["counters"]
    assert {"endpoint": "product", "status": 200, "count": 2} in counters["requests"]
    assert counters["min_balance"] == 10


def test_keys_are_validated_and_never_stored() -> None:
    assert is_well_formed_key(KEY) and is_well_formed_key(DEMO_KEY)
    assert not is_well_formed_key("thisisnotavalidkey")
    assert not is_well_formed_key("A" * 64) and not is_well_formed_key(None)
    book = AccountBook()
    acc = book.create(KEY, START_MS, tokens=1, refill_rate=1)
    assert acc.fingerprint == fingerprint(KEY) and len(acc.fingerprint) == 12
    for text in (repr(acc), repr(book), str(acc.state(START_MS).as_dict()), repr(acc.state(START_MS))):
        assert KEY not in text
    assert book.get(KEY) is acc and book.get(DEMO_KEY) is None
    with pytest.raises(ValueError):
        book.create("short", START_MS, tokens=1, refill_rate=1)


def test_sandbox_accounts_follow_its_clock() -> None:
    clock = FakeClock(START_MS)
    sb = Sandbox(clock=clock)
    assert sb.account(DEMO_KEY).tokens == 1200 and sb.account(DEMO_KEY).refill_rate == 20
    sb.add_account(KEY, tokens=0, refill_rate=5, phase_ms=PHASE)
    clock.advance(PHASE + 59 * MIN)  # an hour of refills in no time
    assert sb.account(KEY).tokens == 300
    sb.update_account(KEY, tokens=-50, refill_rate=10)
    assert sb.account(KEY).tokens == -50 and sb.account(KEY).min_balance == -50
    sb.update_account(KEY, cap=100)
    clock.advance(60 * MIN)
    assert sb.account(KEY).tokens == 100
    with pytest.raises(TypeError):
        sb.update_account(KEY, balance=3)
    sb.remove_account(KEY)
    assert sb.accounts.get(KEY) is None
