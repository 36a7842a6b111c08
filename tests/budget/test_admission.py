"""One admission rule: what the planner is told it may spend is what acquire grants.

``core.spendable(snapshot, policy)`` answers "how many tokens may a call cost
right now without waiting"; ``core.acquire`` decides by the same rule
(``core.grant_limit_mt``).  For any state, a call costing exactly the answer is
granted and one token more is not.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from keepa_deals.budget import core
from keepa_deals.budget.core import MINUTE_MS, MT, Policy, RechargeView, Snapshot

NOW = 1_800_000_000_000


@st.composite
def states(draw: st.DrawFn) -> tuple[core.State, Policy]:
    policy = Policy(floor=draw(st.sampled_from([-180, -50, 0])),
                    min_balance=draw(st.sampled_from([1, 5])),
                    burst_minutes=draw(st.sampled_from([1.0, 3.0])))
    rate = draw(st.sampled_from([0, 1, 5, 20])) * MT
    seen = NOW - draw(st.integers(0, 300_000))
    fields = {
        "anchor_tokens": str(draw(st.integers(-250 * MT, 400 * MT))),
        "anchor_rate": str(rate),
        "anchor_next_refill_ms": str(seen + draw(st.integers(1, MINUTE_MS))),
        "anchor_server_ts_ms": str(seen),
        "anchor_seen_ms": str(seen),
    }
    if draw(st.booleans()):
        since = NOW - draw(st.integers(0, 600_000))
        fields.update({
            "recharge_since_ms": str(since),
            "recharge_deadline_ms": str(NOW + draw(st.integers(-5_000, 600_000))),
            "recharge_target": str(draw(st.integers(1, 300 * MT))),
        })
    leases = {f"l{i}": f"{draw(st.integers(1, 50)) * MT}:{NOW + draw(st.integers(1, 100_000))}"
              for i in range(draw(st.integers(0, 3)))}
    return core.parse(fields, leases, NOW, policy), policy


def _granted(state: core.State, cost: int, policy: Policy) -> bool:
    decision, _ = core.acquire(state, "probe", cost * MT, NOW, policy)
    return decision.kind == "grant"


@settings(max_examples=400, deadline=None)
@given(states())
def test_a_call_costing_what_the_snapshot_allows_is_granted_and_one_more_is_not(
        drawn: tuple[core.State, Policy]) -> None:
    state, policy = drawn
    snap = core.snapshot(state, NOW)
    allowed = core.spendable(snap, policy)
    assert allowed >= 0
    if allowed > 0:
        assert _granted(state, allowed, policy), (snap, allowed)
    assert not _granted(state, allowed + 1, policy), (snap, allowed)
    if snap.cap and snap.rate:
        assert allowed <= snap.cap


def _snap(available: int, *, recharge: RechargeView | None = None, rate: int = 5) -> Snapshot:
    return Snapshot(NOW, True, (), available, rate, 60 * rate, available, available, 0.0, 30_000,
                    (), recharge, 0.0, available_mt=available * MT, rate_mt=rate * MT)


def test_the_floor_the_minimum_and_the_cap_bound_what_may_be_spent() -> None:
    policy = Policy(floor=-180, min_balance=1)
    assert core.spendable(_snap(20), policy) == 200
    assert core.spendable(_snap(0), policy) == 0  # below the minimum balance
    assert core.spendable(_snap(290), policy) == 300  # never more than the bucket holds


def test_a_recharge_under_way_holds_everything_until_its_target() -> None:
    policy = Policy(burst_minutes=5)
    recharging = RechargeView(since_ms_ago=10_000, deadline_in_ms=60_000, target_mt=25 * MT)
    assert core.spendable(_snap(20, recharge=recharging), policy) == 0
    # the target follows the plan: never above today's burst (here 5 × 1 token)
    assert core.spendable(_snap(20, recharge=recharging, rate=1), policy) == 60


def test_a_recharge_past_its_deadline_no_longer_holds() -> None:
    over = RechargeView(since_ms_ago=600_000, deadline_in_ms=0, target_mt=25 * MT)
    assert core.spendable(_snap(20, recharge=over), Policy(burst_minutes=5)) == 200


def test_an_unknown_state_allows_nothing() -> None:
    state = core.parse({}, {}, NOW, Policy())
    assert core.spendable(core.snapshot(state, NOW), Policy()) == 0
