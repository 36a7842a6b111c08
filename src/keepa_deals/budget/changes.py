"""What a budget step writes back, and what every write adds to keep a state loss visible.

:class:`Changes` is a step's result (fields to set and delete, leases to add
and remove, the marker); :func:`seal` completes it with the epoch, the
lost-leases and the marker (see :mod:`keepa_deals.budget.state`);
:func:`apply_changes` is how every store writes it.  ``lua/lib.lua``
holds the Lua twin of :func:`seal` and :func:`release_lost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keepa_deals.budget.state import (
    EPOCH_FIELD,
    EPOCH_LEASE,
    LOST_PREFIX,
    LeaseRec,
    State,
    dump_lease,
    parse_lease,
)


@dataclass(slots=True)
class Changes:
    """What a decision writes back: fields to set, fields to delete, leases to add/remove."""

    set: dict[str, str] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    add_leases: dict[str, str] = field(default_factory=dict)
    remove_leases: list[str] = field(default_factory=list)
    #: the marker to store (None: leave it as it is)
    marker: str | None = None

    def writes(self) -> bool:
        return bool(self.set or self.delete or self.add_leases or self.remove_leases)


def seal(st: State, ch: Changes, now_ms: int) -> Changes:
    """Complete a step's changes with what keeps a state loss visible (``state``'s docstring).

    A step that writes anything also writes: a new epoch when the state has
    none intact (in the fields and in the leases), the lost-leases a loss
    left to hold, and the marker of the result (the sum and the last expiry
    of the live leases).  A step that writes nothing is left alone: a loss it
    found is found again by the next step.
    """
    if not ch.writes():
        return ch
    epoch = st.epoch if st.epoch is not None else now_ms
    if st.epoch is None:
        ch.set[EPOCH_FIELD] = str(epoch)
        ch.add_leases[EPOCH_LEASE] = str(epoch)
    for lid, rec in st.found_lost.items():
        if lid not in ch.add_leases and lid not in ch.remove_leases:  # unless released already
            ch.add_leases[lid] = dump_lease(rec)
    live = {lid: rec for lid, rec in st.leases.items() if lid not in ch.remove_leases}
    for lid, text in ch.add_leases.items():
        added = parse_lease(text) if lid != EPOCH_LEASE else None
        if added is not None:
            live[lid] = added
    reserved = sum(rec.cost for rec in live.values())
    until = max((rec.expires_ms for rec in live.values()), default=0)
    marker = f"{epoch}:{reserved}:{until}"
    ch.marker = marker if marker != st.marker else None
    return ch


def release_lost(st: State, ch: Changes, cost_mt: int) -> None:
    """Take ``cost_mt`` off the lost-leases, oldest first."""
    left = cost_mt
    for lid in sorted(k for k in st.leases if k.startswith(LOST_PREFIX)):
        if left <= 0:
            return
        rec = st.leases[lid]
        take = min(left, rec.cost)
        left -= take
        if take == rec.cost:
            ch.remove_leases.append(lid)
        else:
            ch.add_leases[lid] = dump_lease(LeaseRec(rec.cost - take, rec.expires_ms))


def then(first: Changes, second: Changes) -> Changes:
    """The changes of ``first`` followed by ``second``, as one write (deletes apply before sets)."""
    return Changes(
        set={**{k: v for k, v in first.set.items() if k not in second.delete}, **second.set},
        delete=[*(d for d in first.delete if d not in second.set), *second.delete],
        add_leases={**{k: v for k, v in first.add_leases.items()
                       if k not in second.remove_leases}, **second.add_leases},
        remove_leases=[*(r for r in first.remove_leases if r not in second.add_leases),
                       *second.remove_leases],
        marker=second.marker if second.marker is not None else first.marker,
    )


def apply_changes(fields: dict[str, str], leases: dict[str, str], ch: Changes) -> None:
    """Apply ``ch`` to a stored state's fields and leases, in place (as the stores write)."""
    for name in ch.delete:
        fields.pop(name, None)
    fields.update(ch.set)
    for lid in ch.remove_leases:
        leases.pop(lid, None)
    leases.update(ch.add_leases)
