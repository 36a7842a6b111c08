"""Chaos: whatever happens to the stored state, Keepa's answer wins within one sync.

A real run (syncs, grants, settles and a give-up against a sandbox account)
writes the state; then one stored value at a time is deleted, garbled, made
extreme or negative, or dated in the future or the past.  With Keepa holding
tokens, the next acquire must be granted after at most one /token call, and the
state must parse cleanly afterwards (docs/failure-classes.md, FC-1: missing, unparsable,
future-dated or old state is unknown, and unknown is resolved by asking Keepa).

Fields come from ``core.FIELDS`` and leases from what the run left in the
store, so a new field is covered without touching this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import FakeClock
from keepa_deals.tokens.errors import TokenRechargeError
from tests.budget._keepa import KeepaAccount, spend

POLICY = Policy()
HOUR = 3_600_000

# A corruption: (now_ms, the stored string) -> the new string, or None to delete it.
Corrupt = Callable[[int, str], "str | None"]

FIELD_CORRUPTIONS: dict[str, Corrupt] = {
    "deleted": lambda now, v: None,
    "empty": lambda now, v: "",
    "garbage": lambda now, v: "garbage",
    "number-with-junk": lambda now, v: v + "x",
    "decimal": lambda now, v: v + ".5",
    "nan": lambda now, v: "NaN",
    "control-chars": lambda now, v: "\x00\x7f\x1b",
    "huge": lambda now, v: str(2**63),
    "enormous": lambda now, v: str(10**30),
    "very-negative": lambda now, v: str(-(2**63)),
    "negative": lambda now, v: "-" + v.lstrip("-"),
    "zero": lambda now, v: "0",
    "minus-one": lambda now, v: "-1",
    "thousand-tokens": lambda now, v: str(1_000 * MT),
    "ten-thousand-tokens": lambda now, v: str(10_000 * MT),
    "minus-ten-thousand-tokens": lambda now, v: str(-10_000 * MT),
    "seconds-ahead": lambda now, v: str(now + 4_000),
    "hour-ahead": lambda now, v: str(now + HOUR),
    "decades-ahead": lambda now, v: str(now + 10**12),
    "hour-ago": lambda now, v: str(now - HOUR),
    "ancient": lambda now, v: str(now - 10**12),
}


def _lease_parts(v: str) -> tuple[str, str]:
    cost, _, exp = v.partition(":")
    return cost, exp


LEASE_CORRUPTIONS: dict[str, Corrupt] = {
    "deleted": lambda now, v: None,
    "empty": lambda now, v: "",
    "garbage": lambda now, v: "garbage",
    "no-expiry": lambda now, v: _lease_parts(v)[0],
    "swapped": lambda now, v: "{1}:{0}".format(*_lease_parts(v)),
    "extra-part": lambda now, v: v + ":7",
    "zero-cost": lambda now, v: f"0:{_lease_parts(v)[1]}",
    "negative-cost": lambda now, v: f"-{_lease_parts(v)[0]}:{_lease_parts(v)[1]}",
    "huge-cost": lambda now, v: f"{10**18}:{_lease_parts(v)[1]}",
    "cost-above-cap": lambda now, v: f"{400 * MT}:{_lease_parts(v)[1]}",
    "cost-of-ten-thousand": lambda now, v: f"{10_000 * MT}:{_lease_parts(v)[1]}",
    "expires-in-an-hour": lambda now, v: f"{_lease_parts(v)[0]}:{now + HOUR}",
    "expires-in-decades": lambda now, v: f"{_lease_parts(v)[0]}:{now + 10**12}",
    "expired": lambda now, v: f"{_lease_parts(v)[0]}:{now - 1}",
    "expired-long-ago": lambda now, v: f"{_lease_parts(v)[0]}:{now - 10**12}",
    "expiry-zero": lambda now, v: f"{_lease_parts(v)[0]}:0",
    "expiry-garbage": lambda now, v: f"{_lease_parts(v)[0]}:soon",
}


@dataclass
class Run:
    manager: TokenManager
    keepa: KeepaAccount
    store: BudgetStore
    clock: FakeClock


@pytest.fixture
def run(store: BudgetStore, clock: FakeClock) -> Run:
    """A real run: it ends in recharge mode with another worker's call in flight."""
    keepa = KeepaAccount(clock, tokens=60, rate=5, phase_ms=23_456)
    manager = TokenManager(store, policy=POLICY, sync=keepa.token, clock=clock, max_wait_s=60)
    spend(manager, keepa, 20)  # syncs (nothing known yet), grants, settles: 40 left
    clock.advance(1_500)
    in_flight = manager.acquire(30)  # another worker's call, still running
    keepa.call(30)
    clock.advance(1_500)
    spend(manager, keepa, 25)  # Keepa: -15, and 30 more held by the lease
    with pytest.raises(TokenRechargeError):
        manager.acquire(5)  # recharge begins
    fields, leases = store.raw()
    assert set(fields) == set(core.FIELDS), "the run writes every field"
    assert set(leases) == {core.EPOCH_LEASE, in_flight.id}
    assert run_marker(store) is not None
    # Later: the next run starts, and meanwhile Keepa's bucket has refilled.
    clock.advance(30_000)
    keepa.set(tokens=250)
    return Run(manager, keepa, store, clock)


def _assert_granted_within_one_sync(r: Run) -> None:
    calls = r.keepa.token_calls
    lease = r.manager.acquire(5)
    assert lease.cost == 5
    assert r.keepa.token_calls - calls <= 1, "granted within one sync"
    fields, leases = r.store.raw()
    st = core.parse(fields, leases, r.clock.now_ms(), POLICY)
    assert (st.problems, st.dropped_leases) == ([], []), "the state was repaired"


def test_the_run_itself_recovers(run: Run) -> None:
    _assert_granted_within_one_sync(run)


def _cases(names: tuple[str, ...], corruptions: dict[str, Corrupt]) -> list[object]:
    return [pytest.param(name, corruption, id=f"{name}-{corruption}")
            for name in names for corruption in corruptions]


@pytest.mark.parametrize(("name", "corruption"), _cases(core.FIELDS, FIELD_CORRUPTIONS))
def test_a_corrupted_field(run: Run, name: str, corruption: str) -> None:
    fields, _ = run.store.raw()
    value = FIELD_CORRUPTIONS[corruption](run.clock.now_ms(), fields[name])
    run.store.write_raw({name: value}, {})
    _assert_granted_within_one_sync(run)


@pytest.mark.parametrize(("name", "corruption"), _cases(("lease",), LEASE_CORRUPTIONS))
def test_a_corrupted_lease(run: Run, name: str, corruption: str) -> None:
    _, leases = run.store.raw()
    now = run.clock.now_ms()
    run.store.write_raw({}, {lid: LEASE_CORRUPTIONS[corruption](now, v)
                             for lid, v in leases.items()})
    _assert_granted_within_one_sync(run)


def test_stray_fields_and_leases_are_harmless(run: Run) -> None:
    run.store.write_raw({"not_a_field": "1", "anchor_tokens ": "5"}, {"": "", "x:y": "1:2"})
    _assert_granted_within_one_sync(run)


def test_the_whole_state_deleted(run: Run) -> None:
    run.store.clear()
    _assert_granted_within_one_sync(run)


def run_marker(store: BudgetStore) -> str | None:
    return store.raw_marker()


@pytest.mark.parametrize("corruption", [*FIELD_CORRUPTIONS, "two-parts", "four-parts"])
def test_a_corrupted_marker(run: Run, corruption: str) -> None:
    marker = run.store.raw_marker()
    assert marker is not None
    now = run.clock.now_ms()
    value = {"two-parts": "1:2", "four-parts": marker + ":1"}.get(corruption)
    if value is None:
        value = FIELD_CORRUPTIONS[corruption](now, marker)
    run.store.write_marker(value)
    _assert_granted_within_one_sync(run)


def test_the_fields_and_leases_deleted_with_the_marker_kept(run: Run) -> None:
    """(docs/failure-classes.md, FC-25) The lost in-flight lease is held again, nothing more."""
    fields, leases = run.store.raw()
    run.store.write_raw(dict.fromkeys(fields), dict.fromkeys(leases))
    _assert_granted_within_one_sync(run)
    snap = run.store.snapshot(POLICY)
    held = [cost for lid, cost, _ in snap.leases if lid.startswith(core.LOST_PREFIX)]
    assert held == [30], "the call in flight when the state was lost is still counted"


@pytest.mark.parametrize("corruption", ["garbage", "hour-ahead", "ancient", "minus-one"])
def test_every_field_corrupted_at_once(run: Run, corruption: str) -> None:
    fields, leases = run.store.raw()
    now = run.clock.now_ms()
    run.store.write_raw({n: FIELD_CORRUPTIONS[corruption](now, fields[n]) for n in core.FIELDS},
                        {lid: "garbage" for lid in leases})
    _assert_granted_within_one_sync(run)
