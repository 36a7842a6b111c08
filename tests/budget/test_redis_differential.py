"""The Lua scripts are the pure core: a differential test against the in-memory store.

Random sequences of acquires, settles (with and without a status, in and out
of order, of leases that exist or not), combined settle-then-acquire steps, observes, routine-sync claims, clock
jumps (forwards past lease and anchor expiry, and backwards), plan changes,
corruptions of any stored field, lease or of the marker, and the loss of the
fields, the leases or both (the marker kept) are applied to a MemoryStore (which
runs ``keepa_deals.budget.core``) and a RedisStore (which runs the Lua), both on
one FakeClock.  After every step the two must have answered the same and hold
the same strings.

The corruptions cover what Python's ``int()`` reads on ASCII text (blanks,
signs, underscores, over-long digit strings).  Two corners are out of scope by
design and documented in ``lua/lib.lua``: non-ASCII digits or blanks (Python
reads them, the Lua does not), and relations between two corrupt values beyond
±2**53 (Lua compares them as doubles); valid values are all below 10**15.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.budget.redis_store import RedisStore
from keepa_deals.clock import FakeClock
from keepa_deals.redis_db.keys import fingerprint
from keepa_deals.tokens.status import TokenStatus

pytestmark = pytest.mark.redis

EXAMPLES = int(os.environ.get("KEEPA_DEALS_TEST_DIFF_EXAMPLES", "120"))
EXACT = 2**53

policies = st.builds(
    Policy,
    floor=st.integers(-300, 0),
    min_balance=st.integers(1, 30),
    lease_ttl_ms=st.integers(1_000, 300_000),
    anchor_max_age_ms=st.integers(1_000, 1_200_000),
    burst_minutes=st.one_of(st.sampled_from([0.1, 1 / 3, 2.5, 5.0, 60.0, 90.0]),
                            st.floats(0.01, 100, allow_nan=False)),
    sync_interval_ms=st.integers(1, 300_000),
    recharge_slack_ms=st.integers(0, 300_000),
    zero_rate_retry_ms=st.integers(1, 600_000),
)

statuses = st.fixed_dictionaries({
    "tokens_left": st.one_of(st.integers(-400, 400), st.integers(-5_000, 200_000)),
    "refill_in_ms": st.one_of(st.integers(0, 60_000), st.integers(-5, 200_000)),
    "refill_rate": st.one_of(st.integers(0, 30), st.sampled_from([0, 1, 5, 20, 60, 3_000])),
    # Keepa's clock relative to ours: in order, late, early, or skewed beyond belief
    "skew_ms": st.one_of(st.integers(-90_000, 5_000), st.integers(-700_000, 700_000)),
})

GARBAGE = [
    "", " ", "abc", "12.5", "1e3", "+5", "-0", "0012", "1_000", "1__0", "_1", "1_", " 42 ",
    "\x1c7\x1f", "\t-3\n", "\x0b9\x0c", "0x10", "NaN", "inf", "5:", ":5", "5:6:7", "1000: 9",
    "99999999999999999999999", "-99999999999999999999999", "9007199254740993", "1" * 4301,
    "7" * 4300, "1" + "_0" * 4300,
]
#: an absolute value, or one relative to the clock (times) or to the anchor's scale
values = st.one_of(
    st.sampled_from(GARBAGE),
    st.integers(-EXACT, EXACT).map(lambda v: ("abs", v)),
    st.integers(-800_000, 800_000).map(lambda v: ("now", v)),
    st.integers(-400_000, 400_000).map(lambda v: ("abs", v)),
    st.text(alphabet=" 0123456789-+_:x\t", max_size=14),
)

#: a marker or a part of one: the values without the enormous strings (Hypothesis prints
#: the rules' strategies now and then, and more copies of those would print too long)
parts = st.one_of(
    st.sampled_from([g for g in GARBAGE if len(g) < 100]),
    st.integers(-EXACT, EXACT).map(lambda v: ("abs", v)),
    st.integers(-800_000, 800_000).map(lambda v: ("now", v)),
    st.text(alphabet=" 0123456789-+_:x\t", max_size=14),
)


def outcome(f: Callable[..., object], *args: object) -> tuple[str, object]:
    try:
        return "returned", f(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return "raised", type(exc).__name__


def render(value: str | tuple[str, int], now: int) -> str:
    if isinstance(value, str):
        return value
    kind, v = value
    return str(now + v if kind == "now" else v)


class Differential(RuleBasedStateMachine):
    redis: ClassVar[RedisStore]

    leases = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.memory = MemoryStore(self.clock)
        self.redis.clock = self.clock
        self.redis.clear()
        self.policy = Policy()
        self.n = 0

    @initialize(policy=policies)
    def choose_policy(self, policy: Policy) -> None:
        self.policy = policy

    # -- steps ---------------------------------------------------------------------

    def both(self, name: str, *args: object, **kw: object) -> object:
        a = getattr(self.memory, name)(*args, **kw)
        b = getattr(self.redis, name)(*args, **kw)
        assert a == b, f"{name}: memory said {a!r}, redis said {b!r}"
        return a

    @rule(target=leases, cost_mt=st.one_of(st.integers(1, 40).map(lambda t: t * MT),
                                          st.integers(0, 400_000)))
    def acquire(self, cost_mt: int) -> str:
        self.n += 1
        lease_id = f"host-1-{self.n}"
        self.both("acquire", lease_id, cost_mt, self.policy)
        return lease_id

    @rule(lease_id=leases, cost_mt=st.integers(1, 40_000))
    def acquire_again(self, lease_id: str, cost_mt: int) -> None:
        """A retried acquire reuses its lease id."""
        self.both("acquire", lease_id, cost_mt, self.policy)

    @rule(lease_id=st.one_of(leases, st.just("never-granted")), cost_mt=st.integers(0, 50_000),
          status=st.one_of(st.none(), statuses))
    def settle(self, lease_id: str, cost_mt: int, status: dict[str, int] | None) -> None:
        self.both("settle", lease_id, cost_mt, self.status(status), self.policy)

    @rule(target=leases, settled=st.one_of(leases, st.sampled_from(["never-granted", "#epoch"])),
          settled_cost_mt=st.integers(0, 50_000), status=st.one_of(st.none(), statuses),
          cost_mt=st.one_of(st.integers(1, 40).map(lambda t: t * MT), st.integers(0, 400_000)))
    def settle_acquire(self, settled: str, settled_cost_mt: int, status: dict[str, int] | None,
                       cost_mt: int) -> str:
        """The combined step: the last call's settle riding on the next acquire.

        The Lua applies the settle to its parsed state in place, and parses the written
        state anew where it cannot (a status changing the anchor's rate, which bounds the
        leases; a settle of the epoch's own entry, which no worker sends): both ways run.
        """
        self.n += 1
        lease_id = f"host-1-{self.n}"
        self.both("settle_acquire", (settled, settled_cost_mt, self.status(status)), lease_id,
                  cost_mt, self.policy)
        return lease_id

    @rule(status=statuses, authoritative=st.booleans())
    def observe(self, status: dict[str, int], authoritative: bool) -> None:
        self.both("observe", self.status(status), self.policy, authoritative=authoritative)

    @rule()
    def claim_sync(self) -> None:
        self.both("claim_sync", self.policy)

    @rule(ms=st.one_of(st.integers(0, 5_000), st.integers(0, 130_000),
                       st.integers(0, 4 * 3_600_000), st.integers(-130_000, 0)))
    def time_passes(self, ms: int) -> None:
        self.clock.set(self.clock.now_ms() + ms)

    @rule(name=st.sampled_from([*core.FIELDS, "unrelated_field"]),
          value=st.one_of(st.none(), values))
    def corrupt_field(self, name: str, value: str | tuple[str, int] | None) -> None:
        text = None if value is None else render(value, self.clock.now_ms())
        self.both("write_raw", {name: text}, {})

    @rule(lease_id=st.one_of(leases, st.just("stray")),
          cost=st.one_of(st.integers(-5, 400_000).map(str), st.sampled_from(GARBAGE)),
          expires=st.one_of(values, st.integers(-10_000, 400_000).map(lambda v: ("now", v))),
          whole=st.one_of(st.none(), st.sampled_from(GARBAGE)))
    def corrupt_lease(self, lease_id: str, cost: str, expires: str | tuple[str, int],
                      whole: str | None) -> None:
        text = whole if whole is not None else f"{cost}:{render(expires, self.clock.now_ms())}"
        self.both("write_raw", {}, {lease_id: text})

    @rule(lease_id=leases)
    def lose_lease(self, lease_id: str) -> None:
        self.both("write_raw", {}, {lease_id: None})

    @rule(fields=st.booleans(), leases=st.booleans())
    def lose_state(self, fields: bool, leases: bool) -> None:
        """The fields, the leases or both vanish, the marker stays (an eviction, a DEL)."""
        stored_fields, stored_leases = self.memory.raw()
        self.both("write_raw", dict.fromkeys(stored_fields) if fields else {},
                  dict.fromkeys(stored_leases) if leases else {})

    @rule(same_epoch=st.booleans(), reserved=st.integers(-5_000, 900_000),
          until=st.integers(-10_000, 400_000))
    def plausible_marker(self, same_epoch: bool, reserved: int, until: int) -> None:
        """A marker that parses, of this state's epoch or another, holding more or less."""
        epoch = self.memory.raw()[0].get(core.EPOCH_FIELD, "1") if same_epoch else "7"
        self.both("write_marker", f"{epoch}:{reserved}:{self.clock.now_ms() + until}")

    @rule(value=st.one_of(st.none(), parts, st.tuples(parts, parts, parts)))
    def corrupt_marker(self, value: str | tuple[object, ...] | None) -> None:
        now = self.clock.now_ms()
        if isinstance(value, tuple) and len(value) == 3:
            text = ":".join(render(v, now) for v in value)  # type: ignore[arg-type]
        else:
            text = None if value is None else render(value, now)  # type: ignore[arg-type]
        self.both("write_marker", text)

    # -- after every step --------------------------------------------------------

    @invariant()
    def same_state(self) -> None:
        assert self.memory.raw() == self.redis.raw()
        assert self.memory.raw_marker() == self.redis.raw_marker()
        # the same view, or the same failure (the view of absurd corrupt values may raise)
        assert outcome(self.memory.snapshot, self.policy) == outcome(self.redis.snapshot,
                                                                     self.policy)

    def status(self, s: dict[str, int] | None) -> TokenStatus | None:
        if s is None:
            return None
        return TokenStatus(tokens_left=s["tokens_left"], refill_in_ms=s["refill_in_ms"],
                           refill_rate=s["refill_rate"],
                           timestamp_ms=self.clock.now_ms() + s["skew_ms"])


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
def test_lua_and_python_cores_agree_step_by_step(redis_url: str, functions: bool) -> None:
    """Both ways of running the Lua: the functions library (Redis >= 7) and the scripts.

    The Lua is the same; the scripts' path (Redis 5 and 6) gets fewer examples.
    """
    store = RedisStore(redis_url, fingerprint("differential-key"), functions=functions)
    Differential.redis = store
    try:
        run_state_machine_as_test(
            Differential,
            settings=settings(max_examples=EXAMPLES if functions else max(10, EXAMPLES // 4),
                              stateful_step_count=40, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow]),
        )
        assert store.functions is functions, "each path ran as asked"
    finally:
        store.close()


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
@pytest.mark.parametrize("settled", ["host-1-small", "#epoch", "never-granted"])
def test_a_combined_step_whose_status_shrinks_the_bucket_drops_what_no_longer_fits(
        redis_url: str, functions: bool, settled: str) -> None:
    """Examples the random walk seldom reaches: the settle's status lowers the refill
    rate, so a live lease costs more than the new bucket holds and the acquire's parse
    drops it (the Lua cannot keep the first parse's leases then); or the settled id is
    the epoch's own entry (the epoch is not intact after the settle)."""
    clock = FakeClock()
    store = RedisStore(redis_url, fingerprint("differential-examples"), clock=clock,
                       functions=functions)
    store.clear()
    memory = MemoryStore(clock)
    policy = Policy()

    def status(rate: int) -> TokenStatus:
        return TokenStatus(tokens_left=1_000, refill_in_ms=30_000, refill_rate=rate,
                           timestamp_ms=clock.now_ms())

    try:
        for s in (memory, store):
            s.observe(status(20), policy, authoritative=True)  # a bucket of 1,200 tokens
            assert s.acquire("host-1-big", 500 * MT, policy).kind == "grant"
            assert s.acquire("host-1-small", 2 * MT, policy).kind == "grant"
        clock.advance(1_000)
        args = ((settled, 2 * MT, status(5)), "host-1-next", 3 * MT, policy)  # 300 tokens
        d = memory.settle_acquire(*args)
        assert store.settle_acquire(*args) == d
        assert store.raw() == memory.raw()
        assert store.raw_marker() == memory.raw_marker()
        assert "host-1-big" not in memory.raw()[1]  # dropped: no call that big is granted
    finally:
        store.clear()
        store.close()
