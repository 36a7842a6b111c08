"""The budget's stored state: a flat map of string fields plus a map of leases.

Every store (in-memory, SQLite, Redis) persists this same state; :func:`parse`
reads it into a :class:`State` without ever raising, and the ``dump_*``
functions write it back.  ``lib.lua`` holds the Lua twin of the parser.

The state is a projection of Keepa, never a second authority:

* the *anchor* is the last status Keepa sent (tokensLeft, refillRate and the
  next refill instant), with the store time it was recorded;
  ``anchor_server_ts_ms`` is Keepa's clock and is only compared with other
  Keepa timestamps;
* *leases* are reservations made since, each with an expiry;
* a *recharge* record says the budget waits for a burst of tokens;
* anything missing, unparsable, impossible, future-dated or too old is
  *unknown*, and the only way out of unknown is a fresh status from Keepa.

**State loss.**  Calls in flight live only as leases, so a state that
vanishes (Redis keys deleted or evicted, the SQLite rows deleted) would forget
them.  Three things make a loss visible and bounded:

* an *epoch* written both in the fields (``epoch``) and in the leases
  (:data:`EPOCH_LEASE`), so either half missing or replaced shows;
* the *marker*, kept apart from both (its own Redis key, with no TTL: no
  ``volatile-*`` eviction takes it; its own SQLite table), rewritten by every
  step that writes: ``"<epoch>:<reserved milli-tokens>:<latest expiry ms>"``,
  the sum and the last expiry of the live leases;
* when the leases are found lost (their epoch is not the marker's), the
  leases the marker counted that are no longer there are held as one
  :data:`LOST_PREFIX` lease until the latest of them could have expired: the
  calls they covered may still be charged.

A marker that is itself missing or unparsable is rewritten from the state;
all three lost together reads as a first start (see docs/budget.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from keepa_deals.budget.policy import MINUTE_MS, MT, Policy
from keepa_deals.tokens import economics

#: The anchor fields, written together.
ANCHOR_FIELDS = (
    "anchor_tokens",
    "anchor_rate",
    "anchor_next_refill_ms",
    "anchor_server_ts_ms",
    "anchor_seen_ms",
)
#: The recharge fields, written together or not at all.
RECHARGE_FIELDS = ("recharge_since_ms", "recharge_deadline_ms", "recharge_target")
#: The state's generation, also held in the leases and the marker.
EPOCH_FIELD = "epoch"
#: Every scalar field a store may hold.
FIELDS = (*ANCHOR_FIELDS, *RECHARGE_FIELDS, "last_sync_ms", EPOCH_FIELD)
#: The entry of the leases map that holds the epoch (never a lease id: those start with a host)
EPOCH_LEASE = "#epoch"
#: Leases held for calls a state loss made us forget: ``#lost-<store ms>``
LOST_PREFIX = "#lost-"

# Bounds that make a value "impossible" rather than merely surprising.
MAX_RATE_MT = 1_000_000 * MT  # a refill rate above a million tokens/min
FUTURE_TOLERANCE_MS = 5_000  # store clock vs a recorded store time
#: no recharge can need longer: from the deepest floor to a full bucket is ~1 h plus slack
MAX_RECHARGE_MS = 3 * 60 * MINUTE_MS
#: Keepa's clock minus ours may drift between two statuses by at most this much;
#: beyond it the stored Keepa timestamp is garbage, not a later status.
MAX_SKEW_DRIFT_MS = 5 * MINUTE_MS


@dataclass(slots=True)
class Anchor:
    tokens: int  # milli-tokens
    rate: int  # milli-tokens per minute
    next_refill_ms: int
    server_ts_ms: int
    seen_ms: int

    @property
    def cap(self) -> int:
        return economics.cap_for(self.rate)

    def project(self, now_ms: int) -> int:
        return economics.project(self.tokens, self.rate, self.next_refill_ms, now_ms, self.cap)


@dataclass(slots=True)
class Recharge:
    since_ms: int
    deadline_ms: int
    target: int  # milli-tokens


@dataclass(slots=True)
class LeaseRec:
    cost: int  # milli-tokens
    expires_ms: int


@dataclass(slots=True)
class State:
    """The parsed state; ``problems`` lists everything unknown about it."""

    anchor: Anchor | None = None
    recharge: Recharge | None = None
    last_sync_ms: int | None = None
    leases: dict[str, LeaseRec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    dropped_leases: list[str] = field(default_factory=list)
    #: the generation of an intact state; None: a new one is written with the next change
    epoch: int | None = None
    #: the marker as stored (rewritten when a step's result differs)
    marker: str | None = None
    #: the leases held for calls a state loss forgot (in ``leases`` too), to be written
    found_lost: dict[str, LeaseRec] = field(default_factory=dict)

    @property
    def unknown(self) -> bool:
        return bool(self.problems)


# --------------------------------------------------------------------------
# Parsing and validation: a flat string map -> State, never raising.
# --------------------------------------------------------------------------


_INT_RE = re.compile(r"[ \t\n\r]*(-?[0-9]{1,16})[ \t\n\r]*")
MAX_INT = 2**53  # every valid value is far below; the Lua holds numbers as doubles


def parse_int(value: object) -> int | None:
    """A stored integer: ASCII decimal, at most 2^53 in magnitude; anything else is None."""
    if value is None:
        return None
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        return None
    m = _INT_RE.fullmatch(text)
    if m is None:
        return None
    n = int(m.group(1))
    return n if -MAX_INT <= n <= MAX_INT else None


def _int(raw: Mapping[str, str], name: str) -> int | None:
    return parse_int(raw.get(name))


def parse(raw: Mapping[str, str], leases: Mapping[str, str], now_ms: int, policy: Policy,
          marker: str | None = None) -> State:
    """Read a stored state, listing what is unknown and dropping leases that cannot count.

    ``marker`` is the stored marker (see the module's docstring): when the
    leases are found lost, what they held is held again as a lost-lease.
    """
    st = State(marker=marker)
    vals = {name: _int(raw, name) for name in FIELDS}

    present = [n for n in ANCHOR_FIELDS if raw.get(n) is not None]
    if not present:
        st.problems.append("no anchor: Keepa has not been asked yet")
    elif any(vals[n] is None for n in ANCHOR_FIELDS):
        bad = [n for n in ANCHOR_FIELDS if vals[n] is None]
        st.problems.append(f"anchor incomplete or unparsable: {', '.join(bad)}")
    else:
        a = Anchor(
            tokens=vals["anchor_tokens"],  # type: ignore[arg-type]
            rate=vals["anchor_rate"],  # type: ignore[arg-type]
            next_refill_ms=vals["anchor_next_refill_ms"],  # type: ignore[arg-type]
            server_ts_ms=vals["anchor_server_ts_ms"],  # type: ignore[arg-type]
            seen_ms=vals["anchor_seen_ms"],  # type: ignore[arg-type]
        )
        problem = _anchor_problem(a, now_ms, policy)
        if problem:
            st.problems.append(problem)
        st.anchor = a  # kept for display; any problem makes the state unknown

    rpresent = [n for n in RECHARGE_FIELDS if raw.get(n) is not None]
    if rpresent:
        if any(vals[n] is None for n in RECHARGE_FIELDS):
            st.problems.append("recharge mode without a valid start, deadline or target")
        else:
            r = Recharge(
                since_ms=vals["recharge_since_ms"],  # type: ignore[arg-type]
                deadline_ms=vals["recharge_deadline_ms"],  # type: ignore[arg-type]
                target=vals["recharge_target"],  # type: ignore[arg-type]
            )
            if r.since_ms > now_ms + FUTURE_TOLERANCE_MS:
                st.problems.append("recharge mode started in the future")
            elif (r.deadline_ms < r.since_ms or r.deadline_ms - r.since_ms > MAX_RECHARGE_MS
                  or r.target <= 0 or r.target > MAX_RATE_MT * 60):
                st.problems.append("recharge mode with an impossible deadline or target")
            else:
                st.recharge = r

    ls = vals["last_sync_ms"]
    st.last_sync_ms = ls if ls is not None and ls <= now_ms + FUTURE_TOLERANCE_MS else None

    max_expiry = now_ms + policy.lease_ttl_ms + FUTURE_TOLERANCE_MS
    # no call costing more than the bucket is ever granted, so no such lease is real
    held = st.anchor
    max_cost = held.cap if held is not None and 0 < held.rate <= MAX_RATE_MT else MAX_RATE_MT * 60
    max_lost = lost_bound(held, policy)
    for lease_id, value in leases.items():
        lid = _text(lease_id)
        if lid == EPOCH_LEASE:
            continue
        rec = parse_lease(value)
        lost = lid.startswith(LOST_PREFIX)
        if (rec is None or rec.expires_ms > max_expiry or rec.expires_ms <= now_ms
                or (rec.cost > max_cost and not lost)):
            st.dropped_leases.append(lid)
        else:
            # a lost-lease may hold several calls: never more than the leases could hold
            st.leases[lid] = LeaseRec(min(rec.cost, max_lost), rec.expires_ms) if lost else rec
    _check_epoch(st, parse_int(raw.get(EPOCH_FIELD)), parse_int(leases.get(EPOCH_LEASE)),
                 now_ms, policy, max_lost)
    return st


def lost_bound(anchor: Anchor | None, policy: Policy) -> int:
    """The most the live leases can ever hold: the cap less the floor (milli-tokens)."""
    if anchor is not None and 0 < anchor.rate <= MAX_RATE_MT:
        return anchor.cap - min(policy.floor, 0) * MT
    return MAX_RATE_MT * 60


def parse_marker(text: object) -> tuple[int, int, int] | None:
    """``"<epoch>:<reserved>:<until>"`` as three integers, or None."""
    if text is None:
        return None
    try:
        parts = _text(text).split(":")
    except UnicodeDecodeError:  # pragma: no cover - surrogateescape never raises
        return None
    if len(parts) != 3:
        return None
    epoch, reserved, until = (parse_int(p) for p in parts)
    if epoch is None or reserved is None or until is None:
        return None
    return epoch, reserved, until


def _check_epoch(st: State, fields_epoch: int | None, leases_epoch: int | None, now_ms: int,
                 policy: Policy, max_lost: int) -> None:
    """Compare the state's epoch with the marker's; hold what lost leases held."""
    m = parse_marker(st.marker)
    if m is None:  # a first start, or the marker alone lost: rewritten from the state
        intact = fields_epoch is not None and fields_epoch == leases_epoch
        st.epoch = fields_epoch if intact else None
        return
    epoch, reserved, until = m
    if fields_epoch == epoch and leases_epoch == epoch:
        st.epoch = epoch
        return
    st.epoch = None  # a new generation starts with this step's changes
    if leases_epoch == epoch or until <= now_ms:
        return  # the leases are intact, or none of theirs could still be live
    present = sum(rec.cost for rec in st.leases.values())
    held = min(reserved - present, max_lost)
    lid = f"{LOST_PREFIX}{now_ms}"
    if held > 0 and lid not in st.leases:
        rec = LeaseRec(held, min(until, now_ms + policy.lease_ttl_ms))
        st.leases[lid] = rec
        st.found_lost[lid] = rec


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_lease(value: object) -> LeaseRec | None:
    try:
        cost_s, exp_s = _text(value).split(":", 1)
    except (ValueError, UnicodeDecodeError):
        return None
    cost, exp = parse_int(cost_s), parse_int(exp_s)
    if cost is None or exp is None or cost <= 0 or cost > MAX_RATE_MT * 60:
        return None
    return LeaseRec(cost, exp)


def _anchor_problem(a: Anchor, now_ms: int, policy: Policy) -> str | None:
    if a.rate < 0 or a.rate > MAX_RATE_MT:
        return "anchor has an impossible refill rate"
    limit = max(a.cap, 1000 * MT) * 10
    if abs(a.tokens) > limit:
        return "anchor has an impossible balance"
    if a.seen_ms > now_ms + FUTURE_TOLERANCE_MS:
        return "anchor is dated in the future"
    if not (a.seen_ms < a.next_refill_ms <= a.seen_ms + MINUTE_MS):
        return "anchor's next refill is not within a minute of when it was seen"
    if now_ms - a.seen_ms > policy.anchor_max_age_ms:
        return f"anchor is older than {policy.anchor_max_age_ms // 1000} s"
    return None


def dump_anchor(a: Anchor) -> dict[str, str]:
    return {
        "anchor_tokens": str(a.tokens),
        "anchor_rate": str(a.rate),
        "anchor_next_refill_ms": str(a.next_refill_ms),
        "anchor_server_ts_ms": str(a.server_ts_ms),
        "anchor_seen_ms": str(a.seen_ms),
    }


def dump_recharge(r: Recharge) -> dict[str, str]:
    return {
        "recharge_since_ms": str(r.since_ms),
        "recharge_deadline_ms": str(r.deadline_ms),
        "recharge_target": str(r.target),
    }


def dump_lease(rec: LeaseRec) -> str:
    return f"{rec.cost}:{rec.expires_ms}"
