"""doctor checks of the token budget: its state, recharge mode, and the clocks."""

from __future__ import annotations

from typing import Any

from keepa_deals.budget import core
from keepa_deals.budget.core import RECHARGE_FIELDS, Policy, Snapshot
from keepa_deals.budget.manager import effective
from keepa_deals.errors import ConfigError
from keepa_deals.ops.doctor import Check, CheckResult, Context, fail, ok, skipped, warn
from keepa_deals.ops.sources import BUDGET, KEEPA, KeepaProbe
from keepa_deals.tokens.errors import BudgetStoreUnavailable

#: Problems that mean "stale" (old or never asked); anything else the parser lists is garbage.
_STALE = ("no anchor", "anchor is older than")

SYNC_FIX = ("`keepa-deals doctor --fix` (or `keepa-deals tokens sync`) forces a /token sync "
            "(free), which replaces the stored state with Keepa's")


def _budget(ctx: Context) -> tuple[Any, Snapshot, Policy] | None:
    """The budget store, its snapshot and policy; None (reason in errors) when unreachable."""
    store = ctx.sources.budget_store()
    if store is None:
        return None
    policy = Policy.from_settings(ctx.settings)
    try:
        return store, store.snapshot(policy), policy
    except BudgetStoreUnavailable as exc:
        ctx.sources.errors[BUDGET] = f"unreachable: {exc}"
        return None


def _drift_tolerance(snap: Snapshot) -> int:
    """How far the projection may be from Keepa's balance: a refill, at least 5 tokens."""
    return max(5, snap.rate or 0)


def _probe(ctx: Context) -> KeepaProbe | None:
    return ctx.sources.keepa_probe() if ctx.keepa else None


def check_token_state(ctx: Context) -> CheckResult:
    name = "token_state"
    got = _budget(ctx)
    if got is None:
        error = ctx.sources.errors.get(BUDGET, "unreachable")
        return fail(name, f"the token budget's store is {error}",
                    "start Redis or fix REDIS_URL (or make data_dir writable for the SQLite "
                    "budget): no Keepa call can be paid for meanwhile", error=error)
    store, snap, policy = got
    fields, leases = store.raw()
    state = core.parse(fields, leases, snap.now_ms, policy)
    evidence: dict[str, Any] = {"store": store.kind, "snapshot": snap.as_dict(),
                                "dropped_leases": state.dropped_leases}
    garbage = [p for p in snap.problems if not p.startswith(_STALE)]
    stale = [p for p in snap.problems if p.startswith(_STALE)]
    if garbage:
        return fail(name, f"token state is garbage: {'; '.join(garbage)}", SYNC_FIX, **evidence)
    probe = _probe(ctx)
    if probe is not None:
        evidence["keepa"] = _keepa_evidence(probe)
    elif ctx.keepa:
        evidence["keepa_error"] = ctx.sources.errors.get(KEEPA)
    if stale and ctx.sources.key_refused:
        return warn(name, "token state is unknown: Keepa refuses the key, so no balance can be "
                    "known (see the key check)", "fix the key (see the key check)", **evidence)
    if stale:
        return warn(name, f"token state is stale: {'; '.join(stale)}",
                    "harmless while idle (the next call asks Keepa first); " + SYNC_FIX,
                    **evidence)
    if state.dropped_leases:
        return warn(name, f"{len(state.dropped_leases)} unreadable or expired lease(s) stored",
                    "they are dropped at the next budget step; " + SYNC_FIX, **evidence)
    if probe is not None and snap.projected is not None:
        keepa_tokens = effective(probe.status).tokens_left
        drift = snap.projected - keepa_tokens
        evidence["drift_tokens"] = drift
        if abs(drift) > _drift_tolerance(snap):
            says_wait = snap.projected < policy.min_balance
            keepa_has = keepa_tokens >= policy.min_balance
            text = (f"the stored projection ({snap.projected}) disagrees with Keepa "
                    f"({keepa_tokens}) by {drift:+d} tokens")
            if says_wait and keepa_has:
                return fail(name, text + ": the budget would wait for tokens Keepa already has",
                            SYNC_FIX, **evidence)
            return warn(name, text, SYNC_FIX, **evidence)
    return ok(name, f"known: {snap.projected} tokens projected ({snap.available} available), "
              f"anchor {snap.anchor_age_s:.0f} s old", **evidence)


def _keepa_evidence(probe: KeepaProbe) -> dict[str, Any]:
    s = probe.status
    return {"tokens_left": s.tokens_left, "refill_rate": s.refill_rate,
            "token_flow_reduction": s.token_flow_reduction, "timestamp_ms": s.timestamp_ms}


def repair_by_sync(ctx: Context, result: CheckResult) -> list[str]:
    manager = ctx.sources.manager()
    if manager is None:
        return []
    status = manager.sync_tokens(force=True)
    assert status is not None  # a forced sync always asks
    return [f"forced a /token sync: Keepa says {status.tokens_left} tokens at "
            f"{status.refill_rate}/min"]


def check_recharge(ctx: Context) -> CheckResult:
    name = "recharge"
    got = _budget(ctx)
    if got is None:
        return skipped(name, f"budget store {ctx.sources.errors.get(BUDGET, 'unreachable')} "
                       "(see token_state)")
    store, snap, policy = got
    fields, _ = store.raw()
    present = [f for f in RECHARGE_FIELDS if fields.get(f) is not None]
    recharge = None if snap.recharge is None else snap.recharge.as_dict()
    evidence: dict[str, Any] = {"recharge": recharge, "projected": snap.projected,
                                "available": snap.available, "refill_rate": snap.rate}
    if snap.recharge is None:
        if present:
            return warn(name, "a corrupt recharge record is stored (no valid deadline or target)",
                        "it is dropped at the next sync; " + SYNC_FIX,
                        **evidence, raw={f: fields.get(f) for f in RECHARGE_FIELDS})
        return ok(name, "not in recharge mode", **evidence)
    r = snap.recharge
    target, deadline_in = r.target, r.deadline_in_s
    probe = _probe(ctx)
    if probe is not None:
        evidence["keepa_tokens"] = effective(probe.status).tokens_left
    if deadline_in < 0:
        return fail(name, f"recharge mode is {-deadline_in} s past its deadline (since "
                    f"{r.since_s_ago} s): no budget step has run to leave it",
                    "is ingestion running? " + RECHARGE_FIX, **evidence)
    if snap.available is not None and snap.available >= target:
        return warn(name, f"recharge exit condition met ({snap.available} ≥ {target} tokens) but "
                    "the mode is still recorded", "the next budget step leaves it; " + RECHARGE_FIX,
                    **evidence)
    if probe is not None and effective(probe.status).tokens_left >= target:
        return fail(name, f"stuck in recharge: Keepa already holds "
                    f"{effective(probe.status).tokens_left} tokens ≥ the target {target}, the "
                    f"stored projection says {snap.projected}", RECHARGE_FIX, **evidence)
    return ok(name, f"recharging to {target} tokens (projected {snap.projected}): waits for a "
              f"burst rather than single tokens; leaves by {deadline_in} s from now at the latest",
              **evidence)


RECHARGE_FIX = ("`keepa-deals doctor --fix` forces a /token sync and clears the recharge mode "
                "when its exit condition holds")


def repair_recharge(ctx: Context, result: CheckResult) -> list[str]:
    done = repair_by_sync(ctx, result)
    got = _budget(ctx)
    if got is None:
        return done
    store, snap, _ = got
    r = snap.recharge
    fields, _ = store.raw()
    corrupt = r is None and any(fields.get(f) is not None for f in RECHARGE_FIELDS)
    if corrupt or (r is not None and (r.deadline_in_s < 0 or (
            snap.available is not None and snap.available >= r.target))):
        store.write_raw({f: None for f in RECHARGE_FIELDS}, {})
        done.append("cleared the recharge mode (its exit condition holds)")
    return done


def check_clock_skew(ctx: Context) -> CheckResult:
    name = "clock_skew"
    limit_s = ctx.settings.doctor_clock_skew_s
    evidence: dict[str, Any] = {"warn_above_s": limit_s, "fail_above_s": 6 * limit_s}
    skews: dict[str, float] = {}
    probe = _probe(ctx)
    if probe is not None:
        skews["keepa"] = _beyond(probe.skew_ms, probe.uncertainty_ms)
        evidence["keepa_minus_ours_ms"] = probe.skew_ms
        evidence["keepa_uncertainty_ms"] = probe.uncertainty_ms
    elif ctx.keepa:
        evidence["keepa_error"] = ctx.sources.errors.get(KEEPA)
    redis_skew = _redis_skew(ctx)
    if redis_skew is not None:
        skews["redis"] = _beyond(*redis_skew)
        evidence["redis_minus_ours_ms"] = redis_skew[0]
    if not skews:
        why = "no Keepa call allowed" if not ctx.keepa else _no_answer(ctx)
        return skipped(name, f"nothing to compare our clock with ({why}; no Redis)", **evidence)
    worst_name, worst = max(skews.items(), key=lambda kv: abs(kv[1]))
    text = ", ".join(f"{k} {v / 1000:+.1f} s" for k, v in skews.items())
    fix = ("synchronise this host's clock (chrony or systemd-timesyncd): Keepa time and lock "
           "expiries are compared with it")
    if abs(worst) > 6 * limit_s * 1000:
        return fail(name, f"our clock is off: {text}", fix, **evidence)
    if abs(worst) > limit_s * 1000:
        return warn(name, f"our clock is off: {text}", fix, **evidence)
    return ok(name, f"clocks agree ({text})", **evidence)


def _no_answer(ctx: Context) -> str:
    """Why the /token probe gave no time to compare with, as it happened."""
    if ctx.sources.key_refused:
        return "Keepa refused the key, see the key check"
    if isinstance(ctx.sources.keepa_error, ConfigError):  # no key, or a malformed one
        return "no Keepa call without a usable key, see the key check"
    error = ctx.sources.errors.get(KEEPA)
    return f"no answer from Keepa: {error}" if error else "no answer from Keepa"


def _beyond(skew_ms: int, uncertainty_ms: int) -> float:
    """The part of a measured skew that the round trip cannot explain, signed."""
    size = max(0, abs(skew_ms) - uncertainty_ms)
    return float(size if skew_ms >= 0 else -size)


def _redis_skew(ctx: Context) -> tuple[int, int] | None:
    """(Redis TIME minus our clock, uncertainty), only when our clock is the real one."""
    if not ctx.sources.real_clock or not ctx.sources.redis_configured:
        return None
    client = ctx.sources.redis()
    if client is None:
        return None
    before = ctx.sources.now_ms()
    try:
        reply: Any = client.time()  # (seconds, microseconds)
        sec, usec = reply
    except Exception:
        return None
    after = ctx.sources.now_ms()
    theirs = int(sec) * 1000 + int(usec) // 1000
    return theirs - (before + after) // 2, (after - before) // 2 + 1


CHECKS = (
    Check("token_state", "stale or garbage token state", check_token_state, repair_by_sync),
    Check("recharge", "recharge mode stuck", check_recharge, repair_recharge),
    Check("clock_skew", "clock skew against Keepa (and Redis)", check_clock_skew),
)
