"""The store contract: every store gives the pure core's answers, atomically.

Runs once per store in ``STORE_FACTORIES`` (memory, SQLite, Redis), all on the
same fake clock.  Tokens are whole tokens in the statuses and milli-tokens
(``MT``) in the stores' decisions.
"""

from __future__ import annotations

import pytest

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import FakeClock
from keepa_deals.tokens import economics
from keepa_deals.tokens.errors import CostExceedsCapError
from keepa_deals.tokens.status import TokenStatus
from tests.budget.conftest import StoreOpener

P = Policy(burst_minutes=5)  # a burst of five refills keeps recharge mode visible


def status(clock: FakeClock, tokens: int, *, rate: int = 5, refill_in_ms: int = 30_000,
           ago_ms: int = 0) -> TokenStatus:
    """What Keepa says: ``tokens`` left, sent ``ago_ms`` before now (Keepa's clock = ours)."""
    return TokenStatus(tokens_left=tokens, refill_in_ms=refill_in_ms, refill_rate=rate,
                       timestamp_ms=clock.now_ms() - ago_ms)


def sync(store: BudgetStore, clock: FakeClock, tokens: int, policy: Policy = P, **kw: int) -> None:
    store.observe(status(clock, tokens, **kw), policy, authoritative=True)


def held(store: BudgetStore) -> dict[str, str]:
    """The stored leases, without the epoch the leases map carries (``budget.state``)."""
    return {k: v for k, v in store.raw()[1].items() if k != core.EPOCH_LEASE}


def available(store: BudgetStore, policy: Policy = P) -> int | None:
    return store.snapshot(policy).available


# -- unknown state -------------------------------------------------------------


def test_empty_store_is_unknown_until_keepa_answers(store: BudgetStore, clock: FakeClock) -> None:
    d = store.acquire("w1", 1 * MT, P)
    assert d.kind == "unknown"
    assert store.raw() == ({}, {}), "an unknown answer reserves nothing"
    sync(store, clock, 10)
    assert store.acquire("w1", 1 * MT, P).kind == "grant"


def test_state_is_stored_as_the_flat_strings_the_core_parses(store: BudgetStore,
                                                             clock: FakeClock) -> None:
    sync(store, clock, 42, refill_in_ms=12_345)
    d = store.acquire("w1", 7 * MT, P)
    fields, leases = store.raw()
    now = clock.now_ms()
    assert fields == {
        "anchor_tokens": "42000", "anchor_rate": "5000", "anchor_next_refill_ms": str(now + 12_345),
        "anchor_server_ts_ms": str(now), "anchor_seen_ms": str(now), "last_sync_ms": str(now),
        "epoch": str(now),
    }
    assert leases == {"w1": f"7000:{d.lease_expires_ms}", "#epoch": str(now)}
    assert set(fields) <= set(core.FIELDS)
    assert store.raw_marker() == f"{now}:7000:{d.lease_expires_ms}"


# -- admission -------------------------------------------------------------------


def test_grant_while_available_covers_the_need(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 10)
    d = store.acquire("w1", 10 * MT, P)
    assert (d.kind, d.available, d.needed) == ("grant", 10 * MT, 1 * MT)
    d = store.acquire("w2", 1 * MT, P)
    assert (d.kind, d.available) == ("wait", 0)


@pytest.mark.parametrize(("tokens", "kind"), [(5, "grant"), (4, "wait")])
def test_minimum_balance_boundary(store: BudgetStore, clock: FakeClock, tokens: int,
                                  kind: str) -> None:
    policy = Policy(min_balance=5, burst_minutes=1)  # burst = 5 tokens: no higher target
    sync(store, clock, tokens, policy)
    d = store.acquire("w1", 1 * MT, policy)
    assert (d.kind, d.needed) == (kind, 5 * MT)


def test_minimum_balance_counts_live_leases(store: BudgetStore, clock: FakeClock) -> None:
    policy = Policy(min_balance=5, burst_minutes=1)
    sync(store, clock, 11, policy)
    assert store.acquire("w1", 6 * MT, policy).kind == "grant"  # leaves exactly 5
    assert store.acquire("w2", 1 * MT, policy).kind == "grant"  # leaves 4
    d = store.acquire("w3", 1 * MT, policy)
    assert (d.kind, d.available) == ("wait", 4 * MT)


@pytest.mark.parametrize(("tokens", "kind"), [(30, "grant"), (29, "wait")])
def test_floor_boundary(store: BudgetStore, clock: FakeClock, tokens: int, kind: str) -> None:
    policy = Policy(floor=-20)
    sync(store, clock, tokens, policy)
    d = store.acquire("w1", 50 * MT, policy)  # 30 - 50 = -20: exactly the floor
    assert (d.kind, d.needed) == (kind, 30 * MT)
    if kind == "wait":
        assert d.reason == "the call would overdraw the floor"


def test_cost_above_the_cap_is_refused(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 300)
    assert store.acquire("w1", 301 * MT, P).kind == "too_big"
    assert store.acquire("w2", 300 * MT, P).kind == "grant"  # the cap itself fits
    assert held(store).keys() == {"w2"}


def test_manager_raises_cost_exceeds_cap(manager: TokenManager) -> None:
    with pytest.raises(CostExceedsCapError) as info:
        manager.acquire(301)
    assert (info.value.cost, info.value.cap) == (301, 300)
    assert manager.acquire(120).cost == 120


# -- leases ------------------------------------------------------------------------


def test_leases_reserve_and_settle_releases(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    assert store.acquire("w1", 60 * MT, P).kind == "grant"
    assert available(store) == 40
    store.settle("w1", 60 * MT, None, P)  # no token fields in the reply: assume it was spent
    assert held(store) == {}
    assert store.snapshot(P).tokens == 40
    assert store.acquire("w2", 30 * MT, P).kind == "grant"
    clock.advance(1_000)
    store.settle("w2", 30 * MT, status(clock, 75, refill_in_ms=29_000), P)  # Keepa charged 25
    assert held(store) == {}
    assert (store.snapshot(P).tokens, available(store)) == (75, 75)


def test_settling_an_expired_lease_without_a_status_still_takes_its_cost(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("slow", 30 * MT, P)
    clock.advance(P.lease_ttl_ms)  # the lease no longer counts...
    assert available(store) == store.snapshot(P).projected == 110
    store.settle("slow", 30 * MT, None, P)  # ...but Keepa may well have charged the call
    assert store.snapshot(P).tokens == 70
    assert held(store) == {}


# -- state loss (docs/failure-classes.md, FC-25) ---------------------------------


def lose(store: BudgetStore, *, fields: bool = True, leases: bool = True) -> None:
    """Delete the stored fields and/or leases, the marker kept: an eviction, a DEL."""
    stored_fields, stored_leases = store.raw()
    store.write_raw(dict.fromkeys(stored_fields) if fields else {},
                    dict.fromkeys(stored_leases) if leases else {})


def lost_leases(store: BudgetStore) -> list[tuple[int, int]]:
    """(tokens, expires in ms) of each lease held for calls a state loss forgot."""
    return [(cost, exp) for lid, cost, exp in store.snapshot(P).leases
            if lid.startswith(core.LOST_PREFIX)]


def test_leases_lost_are_held_until_the_last_could_have_ended(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    clock.advance(1_000)
    store.acquire("w2", 20 * MT, P)
    lose(store)
    assert store.acquire("w3", 1 * MT, P).kind == "unknown", "the anchor went too"
    sync(store, clock, 100)  # Keepa has not charged the two calls yet
    assert lost_leases(store) == [(50, P.lease_ttl_ms)], "until w2's lease would have ended"
    assert available(store) == 50
    clock.advance(P.lease_ttl_ms)
    assert lost_leases(store) == []
    assert available(store) == store.snapshot(P).projected, "nothing held any more"


def test_leases_lost_alone_are_held_and_the_anchor_is_kept(
        store: BudgetStore, clock: FakeClock) -> None:
    """The leases hash evicted first (the shortest TTL), the budget hash intact."""
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    lose(store, fields=False)
    d = store.acquire("w2", 10 * MT, P)
    assert (d.kind, d.available) == ("grant", 70 * MT)
    assert lost_leases(store) == [(30, P.lease_ttl_ms)]
    assert available(store) == 60


def test_fields_lost_alone_keep_the_leases_and_hold_nothing_more(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    lose(store, leases=False)
    sync(store, clock, 100)
    assert (lost_leases(store), available(store)) == ([], 70)


def test_a_settle_of_a_lost_lease_releases_what_was_held_for_it(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    store.acquire("w2", 20 * MT, P)
    lose(store)
    sync(store, clock, 100)
    clock.advance(1_000)
    store.settle("w1", 30 * MT, status(clock, 70), P)  # Keepa charged it: now in the anchor
    assert lost_leases(store) == [(20, P.lease_ttl_ms - 1_000)]
    assert available(store) == 50
    store.settle("w2", 20 * MT, None, P)  # its reply lost: its cost taken from the anchor
    assert (lost_leases(store), available(store)) == ([], 50)


def test_a_loss_once_every_lease_has_ended_holds_nothing(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    clock.advance(P.lease_ttl_ms)
    lose(store)
    sync(store, clock, 100)
    assert (lost_leases(store), available(store)) == ([], 100)


def test_the_marker_lost_too_reads_as_a_first_start(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 30 * MT, P)
    store.clear()
    sync(store, clock, 100)
    assert (lost_leases(store), available(store)) == ([], 100)


def test_the_marker_alone_lost_is_rewritten_from_the_state(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    d = store.acquire("w1", 30 * MT, P)
    epoch = store.raw()[0]["epoch"]
    store.write_marker(None)
    store.acquire("w2", 10 * MT, P)
    w2_expires = clock.now_ms() + P.lease_ttl_ms
    assert store.raw_marker() == f"{epoch}:{40 * MT}:{max(d.lease_expires_ms or 0, w2_expires)}"
    assert lost_leases(store) == []


def test_expired_leases_stop_counting(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    assert store.acquire("dead-worker", 80 * MT, P).kind == "grant"
    clock.advance(P.lease_ttl_ms - 1)
    snap = store.snapshot(P)
    assert snap.available == snap.projected - 80
    clock.advance(1)
    snap = store.snapshot(P)
    assert snap.leases == ()
    assert snap.available == snap.projected
    store.acquire("w2", 1 * MT, P)
    assert "dead-worker" not in held(store), "the expired lease is deleted by the next step"


def test_settle_reconciles_the_anchor_and_keeps_other_workers_leases(
        open_store: StoreOpener, clock: FakeClock) -> None:
    a, b = open_store(), open_store()  # two processes' handles on one budget
    sync(a, clock, 100)
    assert a.acquire("a-1", 30 * MT, P).kind == "grant"
    assert b.acquire("b-1", 40 * MT, P).kind == "grant"
    clock.advance(2_000)
    # a's reply: Keepa charged a's 30 (b's call has not reached Keepa yet)
    a.settle("a-1", 30 * MT, status(clock, 70, refill_in_ms=28_000), P)
    snap = b.snapshot(P)
    assert snap.tokens == 70
    assert [lid for lid, _, _ in snap.leases] == ["b-1"]
    assert snap.available == 30


# -- reconciliation ------------------------------------------------------------------


def test_a_status_older_than_the_anchor_is_ignored(store: BudgetStore, clock: FakeClock) -> None:
    store.observe(status(clock, 100), P)
    clock.advance(5_000)
    store.observe(status(clock, 3, ago_ms=6_000), P)  # sent before the anchor, arrived late
    assert store.snapshot(P).tokens == 100


def test_a_status_of_the_same_instant_keeps_the_lower_balance(store: BudgetStore,
                                                              clock: FakeClock) -> None:
    store.observe(status(clock, 100), P)
    store.observe(status(clock, 150), P)
    assert store.snapshot(P).tokens == 100
    store.observe(status(clock, 90), P)
    assert store.snapshot(P).tokens == 90


def test_a_newer_status_replaces_the_anchor(store: BudgetStore, clock: FakeClock) -> None:
    store.observe(status(clock, 100), P)
    clock.advance(3_000)
    store.observe(status(clock, 150, refill_in_ms=27_000), P)
    assert store.snapshot(P).tokens == 150


def test_an_authoritative_sync_always_replaces_the_anchor(store: BudgetStore,
                                                          clock: FakeClock) -> None:
    store.observe(status(clock, 100), P)
    clock.advance(5_000)
    store.observe(status(clock, 3, ago_ms=6_000), P, authoritative=True)
    snap = store.snapshot(P)
    assert snap.tokens == 3
    assert snap.last_sync_age_s == 0.0


def test_observe_keeps_live_leases(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 20 * MT, P)
    clock.advance(1_000)
    sync(store, clock, 100, refill_in_ms=29_000)
    assert available(store) == 80


# -- recharge mode -----------------------------------------------------------------


def _enter_recharge(store: BudgetStore, clock: FakeClock) -> core.Decision:
    """Balance 0 at 5/min, next refill in 30 s: a caller must wait, recharge begins."""
    sync(store, clock, 0)
    return store.acquire("w1", 1 * MT, P)


def test_recharge_mode_entry(store: BudgetStore, clock: FakeClock) -> None:
    now = clock.now_ms()
    d = _enter_recharge(store, clock)
    burst = P.burst_mt(5 * MT)
    assert burst == 25 * MT
    to_burst = 30_000 + 4 * 60_000  # five refills of 5
    assert (d.kind, d.needed, d.wait_ms) == ("wait", burst, to_burst)
    assert d.reason == "recharging to the burst threshold"
    fields = store.raw()[0]
    assert held(store) == {}
    assert {k: fields[k] for k in core.RECHARGE_FIELDS} == {
        "recharge_since_ms": str(now),
        "recharge_deadline_ms": str(now + to_burst + P.recharge_slack_ms),
        "recharge_target": str(burst),
    }
    snap = store.snapshot(P)
    assert snap.recharge is not None
    assert snap.recharge.as_dict() == {"since_s_ago": 0,
                                       "deadline_in_s": (to_burst + P.recharge_slack_ms) // 1000,
                                       "target": 25}


def test_recharge_mode_holds_until_its_target(store: BudgetStore, clock: FakeClock) -> None:
    d = _enter_recharge(store, clock)
    assert d.wait_ms is not None
    clock.advance(d.wait_ms - 1)  # 20 tokens: enough for the call, not for the burst
    d2 = store.acquire("w2", 1 * MT, P)
    assert (d2.kind, d2.available, d2.wait_ms) == ("wait", 20 * MT, 1)
    clock.advance(1)
    d3 = store.acquire("w3", 1 * MT, P)
    assert (d3.kind, d3.available) == ("grant", 25 * MT)
    assert not set(core.RECHARGE_FIELDS) & set(store.raw()[0]), "left at its exit condition"
    assert store.acquire("w4", 1 * MT, P).kind == "grant", "and stays out of it"


def test_recharge_mode_ends_at_its_deadline(store: BudgetStore, clock: FakeClock) -> None:
    start = clock.now_ms()
    _enter_recharge(store, clock)
    deadline = int(store.raw()[0]["recharge_deadline_ms"])
    clock.set(deadline - 10_000)
    # others drew on the key: Keepa holds 10, the burst of 25 is out of reach in time
    store.observe(status(clock, 10, refill_in_ms=40_000), P)
    assert store.acquire("w2", 1 * MT, P).kind == "wait"
    clock.set(deadline)
    d = store.acquire("w3", 1 * MT, P)
    assert (d.kind, d.available) == ("grant", 10 * MT)
    assert not set(core.RECHARGE_FIELDS) & set(store.raw()[0])
    assert deadline - start <= core.MAX_RECHARGE_MS


def test_a_rate_change_keeps_recharge_mode(store: BudgetStore, clock: FakeClock) -> None:
    _enter_recharge(store, clock)
    before = {k: store.raw()[0][k] for k in core.RECHARGE_FIELDS}
    clock.advance(1_000)
    store.observe(status(clock, 0, rate=0, refill_in_ms=29_000), P)  # a transient blip
    clock.advance(1_000)
    store.observe(status(clock, 0, rate=5, refill_in_ms=28_000), P)
    assert {k: store.raw()[0][k] for k in core.RECHARGE_FIELDS} == before


# -- rate --------------------------------------------------------------------------


def test_rate_change_moves_the_projection_and_the_cap(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    assert store.acquire("w1", 400 * MT, P).kind == "too_big"
    clock.advance(1_000)
    store.observe(status(clock, 100, rate=10, refill_in_ms=10_000), P)
    snap = store.snapshot(P)
    assert (snap.rate, snap.cap) == (10, 600)
    clock.advance(10_000 + 60_000)  # two refills of 10
    assert store.snapshot(P).projected == 120
    assert store.acquire("w2", 400 * MT, P).kind != "too_big"


def test_projection_follows_keepas_refills_and_cap(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 290, refill_in_ms=5_000)
    for advance, expected in ((4_999, 290), (1, 295), (60_000, 300), (10 * 60_000, 300)):
        clock.advance(advance)
        assert store.snapshot(P).projected == expected


def test_zero_refill_rate_waits_without_a_target(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 0, rate=0)
    d = store.acquire("w1", 1 * MT, P)
    assert (d.kind, d.wait_ms, d.reason) == ("wait", None, "the refill rate is 0")
    sync(store, clock, 50, rate=0)
    assert store.acquire("w2", 10 * MT, P).kind == "grant", "a rate of 0 still spends the balance"


# -- the routine-sync throttle ---------------------------------------------------------


def test_claim_sync_throttles_once_for_everyone(open_store: StoreOpener, clock: FakeClock) -> None:
    a, b = open_store(), open_store()
    assert a.claim_sync(P) is True
    assert b.claim_sync(P) is False
    assert a.claim_sync(P) is False
    clock.advance(P.sync_interval_ms - 1)
    assert b.claim_sync(P) is False
    clock.advance(1)
    assert b.claim_sync(P) is True
    assert a.claim_sync(P) is False


def test_an_authoritative_sync_counts_as_the_routine_one(store: BudgetStore,
                                                         clock: FakeClock) -> None:
    sync(store, clock, 10)
    assert store.claim_sync(P) is False
    clock.advance(P.sync_interval_ms)
    assert store.claim_sync(P) is True


# -- views and maintenance --------------------------------------------------------------


def test_snapshot_contents(store: BudgetStore, clock: FakeClock) -> None:
    snap = store.snapshot(P)
    assert (snap.known, snap.tokens, snap.available, snap.leases) == (False, None, None, ())
    assert snap.problems == ("no anchor: Keepa has not been asked yet",)

    sync(store, clock, 120, refill_in_ms=30_000)
    store.acquire("w1", 20 * MT, P)
    clock.advance(45_000)
    snap = store.snapshot(P)
    assert snap.now_ms == clock.now_ms()
    assert (snap.known, snap.problems) == (True, ())
    assert (snap.tokens, snap.rate, snap.cap) == (120, 5, 300)
    assert (snap.projected, snap.available) == (125, 105)
    assert snap.anchor_age_s == 45.0
    assert snap.next_refill_in_ms == 45_000
    assert snap.leases == (("w1", 20, P.lease_ttl_ms - 45_000),)
    assert snap.recharge is None
    assert snap.last_sync_age_s == 45.0
    d = snap.as_dict()
    assert d["available"] == 105
    assert d["leases"] == [{"id": "w1", "cost": 20, "expires_in_ms": P.lease_ttl_ms - 45_000}]


def test_snapshot_is_read_only(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.acquire("w1", 20 * MT, P)
    clock.advance(P.lease_ttl_ms)
    before = store.raw()
    store.snapshot(P)
    assert store.raw() == before


def test_write_raw_and_clear(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    store.write_raw({"anchor_tokens": "7000", "last_sync_ms": None}, {"x": "1000:1"})
    fields = store.raw()[0]
    assert fields["anchor_tokens"] == "7000" and "last_sync_ms" not in fields
    assert held(store) == {"x": "1000:1"}
    store.write_raw({}, {"x": None})
    assert held(store) == {}
    store.clear()
    assert store.raw() == ({}, {})
    assert store.raw_marker() is None, "clear forgets the marker too: a first start"
    assert store.acquire("w1", 1 * MT, P).kind == "unknown"


def test_the_store_reads_the_time_itself(store: BudgetStore, clock: FakeClock) -> None:
    assert store.now_ms() == clock.now_ms()
    d = store.acquire("w1", 1 * MT, P)
    assert d.now_ms == clock.now_ms()


def test_wait_is_exact_to_the_millisecond(store: BudgetStore, clock: FakeClock) -> None:
    policy = Policy(burst_minutes=1)  # burst 5 = one refill, counted from -12: need 1
    sync(store, clock, -12, policy, refill_in_ms=7_000)
    d = store.acquire("w1", 1 * MT, policy)
    expected = economics.wait_ms_for(-12 * MT, 5 * MT, clock.now_ms() + 7_000, clock.now_ms(),
                                     1 * MT)
    assert (d.kind, d.wait_ms) == ("wait", expected)
    assert expected == 7_000 + 2 * 60_000


def test_a_long_recharge_is_stored_with_a_deadline_its_parser_accepts(
        store: BudgetStore, clock: FakeClock) -> None:
    # -200 tokens at 1 token a minute: the burst is over three hours away
    store.observe(TokenStatus(tokens_left=-200, refill_in_ms=30_000, refill_rate=1,
                              timestamp_ms=clock.now_ms()), P, authoritative=True)
    d = store.acquire("w1", 1 * MT, P)
    assert d.kind == "wait"
    fields, leases = store.raw()
    state = core.parse(fields, leases, clock.now_ms(), P)
    assert state.problems == [] and state.recharge is not None
    assert state.recharge.deadline_ms - state.recharge.since_ms == core.MAX_RECHARGE_MS


def test_recharge_from_below_zero_ends_within_one_burst_of_refill(
        store: BudgetStore, clock: FakeClock) -> None:
    """A balance the last grants left just below zero: one minute of refill ends recharge."""
    policy = Policy(burst_minutes=1)
    store.observe(TokenStatus(tokens_left=-16, refill_in_ms=30_000, refill_rate=3000,
                              timestamp_ms=clock.now_ms()), policy, authoritative=True)
    d = store.acquire("w1", 20 * MT, policy)
    assert d.kind == "wait" and d.wait_ms == 30_000  # the next refill, not the one after
    clock.advance(30_000)
    assert store.acquire("w2", 20 * MT, policy).kind == "grant"


# -- the combined step: the last call's settle riding on the next acquire -------------


def test_settle_acquire_settles_first_then_decides(store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 100)
    assert store.acquire("w1", 100 * MT, P).kind == "grant"
    assert store.acquire("w0", 1 * MT, P).kind == "wait", "w1's lease holds everything"
    clock.advance(1_000)
    # w1's reply: Keepa charged 30 of the 100 reserved; the next call costs 50
    d = store.settle_acquire(("w1", 100 * MT, status(clock, 70, refill_in_ms=29_000)), "w2",
                             50 * MT, P)
    assert (d.kind, d.available) == ("grant", 70 * MT), "decided on the settled state"
    assert list(held(store)) == ["w2"]
    snap = store.snapshot(P)
    assert (snap.tokens, snap.available) == (70, 20)


def test_settle_acquire_without_a_status_takes_the_cost_then_waits(
        store: BudgetStore, clock: FakeClock) -> None:
    sync(store, clock, 10)
    assert store.acquire("w1", 10 * MT, P).kind == "grant"
    d = store.settle_acquire(("w1", 10 * MT, None), "w2", 1 * MT, P)
    assert (d.kind, d.available) == ("wait", 0)
    assert held(store) == {}, "w1 released, w2 not granted"
    fields = store.raw()[0]
    assert fields["anchor_tokens"] == "0"
    assert "last_sync_ms" not in fields, "the anchor holds an estimate"


def test_settle_acquire_is_a_settle_then_an_acquire_at_one_instant(
        open_store: StoreOpener, clock: FakeClock) -> None:
    """The store's combined step writes and answers what the pure core says."""
    store = open_store()
    sync(store, clock, 40)
    store.acquire("w1", 30 * MT, P)
    store.acquire("other", 5 * MT, P)
    clock.advance(2_000)
    for settled, nxt, cost in [
        (("w1", 30 * MT, status(clock, 12, ago_ms=500)), "w2", 20 * MT),  # enters recharge
        (("w2", 20 * MT, None), "w3", 3 * MT),  # w2 was never granted: nothing to release
        (("never-granted", 7 * MT, None), "w4", 1 * MT),
    ]:
        fields, leases = store.raw()
        now = clock.now_ms()
        want, ch = core.settle_acquire(fields, leases, settled, nxt, cost, now, P)
        for name in ch.delete:
            fields.pop(name, None)
        fields.update(ch.set)
        for lid in ch.remove_leases:
            leases.pop(lid, None)
        leases.update(ch.add_leases)
        assert store.settle_acquire(settled, nxt, cost, P) == want
        assert store.raw() == (fields, leases)
        clock.advance(700)


def test_core_settle_acquire_equals_the_two_steps() -> None:
    """The pure rule: one combined step is a settle and then an acquire on its result."""
    fields = {"anchor_tokens": "20000", "anchor_rate": "5000", "anchor_next_refill_ms": "1030000",
              "anchor_server_ts_ms": "1000000", "anchor_seen_ms": "1000000",
              "last_sync_ms": "1000000"}
    leases = {"w1": "15000:1100000", "other": "4000:1100000"}
    now = 1_002_000
    for st_ in (None, TokenStatus(tokens_left=8, refill_in_ms=28_000, refill_rate=5,
                                  timestamp_ms=now)):
        combined, ch = core.settle_acquire(fields, leases, ("w1", 15 * MT, st_), "w2", 6 * MT,
                                           now, P)
        first = core.settle(core.parse(fields, leases, now, P), "w1", 15 * MT, st_, now)
        f = {k: v for k, v in fields.items() if k not in first.delete} | first.set
        ls = {k: v for k, v in leases.items() if k not in first.remove_leases} | first.add_leases
        alone, second = core.acquire(core.parse(f, ls, now, P), "w2", 6 * MT, now, P)
        assert combined == alone
        f = {k: v for k, v in f.items() if k not in second.delete} | second.set
        ls = {k: v for k, v in ls.items() if k not in second.remove_leases} | second.add_leases
        got_f = {k: v for k, v in fields.items() if k not in ch.delete} | ch.set
        got_ls = {k: v for k, v in leases.items() if k not in ch.remove_leases} | ch.add_leases
        assert (got_f, got_ls) == (f, ls)
