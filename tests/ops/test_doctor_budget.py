"""doctor's budget checks, on the SQLite and the Redis budget, against the sandbox Keepa.

Invariants defended: stale or garbage token state is seen and a forced sync
repairs it (docs/failure-classes.md, FC-1, FC-2); a recharge mode with no way out is seen
and left (FC-4); a clock that disagrees with Keepa's is seen (FC-10).
"""

from __future__ import annotations

from keepa_deals.budget.core import MT
from keepa_deals.clock import FakeClock
from keepa_deals.ops.doctor import CheckResult, Verdict, run_checks
from keepa_deals.sandbox import Sandbox
from tests.ops.conftest import KEY, Deployment


def one(dep: Deployment, name: str, **kwargs: object) -> CheckResult:
    [result] = run_checks(dep.settings, only=[name], clock=dep.clock,
                          **kwargs)  # type: ignore[arg-type]
    return result


def seed(dep: Deployment, *, tokens: int, rate: int = 5, age_ms: int = 5_000,
         **extra: str | None) -> None:
    """Write a budget state as a crashed worker might have left it."""
    now = dep.clock.now_ms()
    seen = now - age_ms
    store = dep.budget_store()
    store.write_raw({
        "anchor_tokens": str(tokens * MT), "anchor_rate": str(rate * MT),
        "anchor_next_refill_ms": str(seen + 30_000), "anchor_server_ts_ms": str(seen),
        "anchor_seen_ms": str(seen), **extra,
    }, {})


def stored_tokens(dep: Deployment) -> int:
    fields, _ = dep.budget_store().raw()
    return int(fields["anchor_tokens"]) // MT


# --- token_state ------------------------------------------------------------------------


def test_missing_state_is_stale_and_a_forced_sync_repairs_it(deployment: Deployment) -> None:
    result = one(deployment, "token_state")
    assert result.verdict == Verdict.WARN
    assert "no anchor" in result.summary
    fixed = one(deployment, "token_state", fix=True)
    assert fixed.verdict == Verdict.OK, fixed
    assert fixed.repaired and "forced a /token sync: Keepa says 300 tokens" in fixed.repaired[0]
    assert stored_tokens(deployment) == 300


def test_garbage_state_fails_and_is_repaired(deployment: Deployment) -> None:
    seed(deployment, tokens=10)
    deployment.budget_store().write_raw({"anchor_rate": "five", "recharge_target": "x"},
                                        {"ghost": "not-a-lease"})
    result = one(deployment, "token_state")
    assert result.verdict == Verdict.FAIL
    assert "garbage" in result.summary and "anchor_rate" in result.summary
    fixed = one(deployment, "token_state", fix=True)
    assert fixed.verdict == Verdict.OK, fixed
    fields, leases = deployment.budget_store().raw()
    assert fields["anchor_rate"] == str(5 * MT)
    assert "recharge_target" not in fields and "ghost" not in leases


def test_future_dated_state_is_garbage(deployment: Deployment) -> None:
    seed(deployment, tokens=100, age_ms=-3_600_000)
    result = one(deployment, "token_state")
    assert result.verdict == Verdict.FAIL and "future" in result.summary


def test_stuck_ingestor_seed_projection_below_keepa_fails(deployment: Deployment,
                                                          sandbox: Sandbox) -> None:
    """The first incident: -79 stored, Keepa long refilled.  Seen only by asking Keepa."""
    seed(deployment, tokens=-79)
    assert one(deployment, "token_state").verdict == Verdict.OK  # no Keepa call: looks fine
    result = one(deployment, "token_state", keepa=True)
    assert result.verdict == Verdict.FAIL
    assert "would wait for tokens Keepa already has" in result.summary
    assert result.evidence["keepa"]["tokens_left"] == 300
    fixed = one(deployment, "token_state", fix=True)
    assert fixed.verdict == Verdict.OK
    assert stored_tokens(deployment) == 300
    assert sandbox.account(KEY).tokens_consumed == 0  # /token is free


def test_small_drift_is_ok_and_a_larger_one_warns(deployment: Deployment) -> None:
    seed(deployment, tokens=297)
    assert one(deployment, "token_state", keepa=True).verdict == Verdict.OK
    seed(deployment, tokens=250)
    result = one(deployment, "token_state", keepa=True)
    assert result.verdict == Verdict.WARN and result.evidence["drift_tokens"] == -50


def test_old_anchor_is_stale(deployment: Deployment) -> None:
    seed(deployment, tokens=100, age_ms=3_600_000)
    result = one(deployment, "token_state")
    assert result.verdict == Verdict.WARN and "older than" in result.summary


def test_unreachable_budget_store_fails_once_not_a_crash(deployment: Deployment) -> None:
    from tests._services import free_port

    if deployment.backend == "redis":
        dep = deployment.with_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    else:
        blocker = deployment.settings.data_dir
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("a file where the data directory should be")
        dep = deployment
    results = run_checks(dep.settings, only=["token_state", "recharge"], clock=dep.clock)
    assert [r.verdict for r in results] == [Verdict.FAIL, Verdict.SKIPPED]
    assert "the token budget's store is unreachable" in results[0].summary
    assert "see token_state" in results[1].summary


# --- recharge -----------------------------------------------------------------------------


def recharge_fields(dep: Deployment, *, since_ago_ms: int, deadline_in_ms: int,
                    target: int) -> dict[str, str | None]:
    now = dep.clock.now_ms()
    return {"recharge_since_ms": str(now - since_ago_ms),
            "recharge_deadline_ms": str(now + deadline_in_ms),
            "recharge_target": str(target * MT)}


def test_diminishing_deals_seed_recharge_on_a_wrong_projection_fails(
        deployment: Deployment) -> None:
    """The second incident: -65 recent, recharge to 40, Keepa holds 300."""
    seed(deployment, tokens=-65, **recharge_fields(deployment, since_ago_ms=60_000,
                                                    deadline_in_ms=21 * 60_000, target=25))
    calm = one(deployment, "recharge")
    assert calm.verdict == Verdict.OK and "recharging to 25" in calm.summary
    result = one(deployment, "recharge", keepa=True)
    assert result.verdict == Verdict.FAIL
    assert "Keepa already holds 300" in result.summary
    fixed = one(deployment, "recharge", fix=True)
    assert fixed.verdict == Verdict.OK and fixed.summary == "not in recharge mode"
    assert "cleared the recharge mode (its exit condition holds)" in fixed.repaired
    fields, _ = deployment.budget_store().raw()
    assert "recharge_target" not in fields


def test_recharge_past_its_deadline_fails_and_is_cleared(deployment: Deployment,
                                                          sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=-100)  # Keepa is low too: the sync alone won't end it
    seed(deployment, tokens=-100, **recharge_fields(deployment, since_ago_ms=30 * 60_000,
                                                     deadline_in_ms=-60_000, target=25))
    result = one(deployment, "recharge")
    assert result.verdict == Verdict.FAIL and "past its deadline" in result.summary
    fixed = one(deployment, "recharge", fix=True)
    assert fixed.verdict == Verdict.OK
    assert stored_tokens(deployment) == -100


def test_genuine_recharge_is_ok(deployment: Deployment, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=-20)
    seed(deployment, tokens=-20, **recharge_fields(deployment, since_ago_ms=10_000,
                                                    deadline_in_ms=10 * 60_000, target=25))
    result = one(deployment, "recharge", keepa=True)
    assert result.verdict == Verdict.OK and result.evidence["keepa_tokens"] == -20


def test_corrupt_recharge_record_warns_and_is_dropped(deployment: Deployment) -> None:
    seed(deployment, tokens=100, recharge_since_ms=str(deployment.clock.now_ms()))
    result = one(deployment, "recharge")
    assert result.verdict == Verdict.WARN and "corrupt" in result.summary
    assert one(deployment, "recharge", fix=True).verdict == Verdict.OK


# --- clock skew -------------------------------------------------------------------------------


def with_our_clock(dep: Deployment, offset_ms: int) -> Deployment:
    return Deployment(dep.backend, dep.settings, FakeClock(dep.clock.now_ms() + offset_ms),
                      dep.opened)


def test_clock_skew_against_keepa(deployment: Deployment) -> None:
    assert one(deployment, "clock_skew").verdict == Verdict.SKIPPED  # no Keepa call allowed
    agree = one(deployment, "clock_skew", keepa=True)
    assert agree.verdict == Verdict.OK and agree.evidence["keepa_minus_ours_ms"] == 0
    late = with_our_clock(deployment, -20_000)  # our clock 20 s behind Keepa's
    result = one(late, "clock_skew", keepa=True)
    assert result.verdict == Verdict.WARN and result.evidence["keepa_minus_ours_ms"] == 20_000
    far = with_our_clock(deployment, 5 * 60_000)
    result = one(far, "clock_skew", keepa=True)
    assert result.verdict == Verdict.FAIL and "keepa -300.0 s" in result.summary


def test_clock_skew_against_redis_on_the_real_clock(redis_url: str, tmp_path: object,
                                                    keepa_url: str) -> None:
    from pathlib import Path

    from tests.ops.conftest import make_settings

    settings = make_settings(Path(str(tmp_path)), keepa_url, redis_url)
    [result] = run_checks(settings, only=["clock_skew"])  # our clock is the system's
    assert result.verdict == Verdict.OK
    assert abs(result.evidence["redis_minus_ours_ms"]) < 1_000
