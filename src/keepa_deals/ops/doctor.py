"""doctor: one check per failure class that can be seen from outside.

::

    from keepa_deals.ops.doctor import run_checks

    results = run_checks(settings)                  # cheap: no Keepa call (the dashboard)
    results = run_checks(settings, keepa=True)      # + one /token call (free): skew, drift
    results = run_checks(settings, fix=True)        # + the safe repairs, then re-check
    [r for r in results if r.verdict == "fail"]

Each :class:`CheckResult` has a verdict (``ok``, ``warn``, ``fail``,
``skipped``), a one-line summary, its evidence (a JSON-able dict) and the fix
(what an operator should do; empty when there is nothing to do).  With
``fix=True`` a check that is not ok applies its *safe* repair, if it has one
(a forced ``/token`` sync, releasing an expired or orphaned lock, clearing a
recharge mode whose exit condition holds), then runs again; ``repaired``
lists what was done.  Nothing flushes Redis, and only one repair deletes deals: a
``corrupt_rows`` row whose identity or a required value is unreadable (logged, a line
per row in ``repaired``).

The checks and what each looks at are listed in docs/operations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from keepa_deals.clock import Clock
from keepa_deals.errors import KeepaDealsError
from keepa_deals.ops.sources import Sources

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


#: Worst first, for sorting and the overall verdict.
SEVERITY = {Verdict.FAIL: 3, Verdict.WARN: 2, Verdict.OK: 1, Verdict.SKIPPED: 0}


@dataclass(slots=True)
class CheckResult:
    name: str
    verdict: Verdict
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    #: what to do about it (empty when ok or skipped)
    fix: str = ""
    #: what ``fix=True`` did before this result was taken
    repaired: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict == Verdict.FAIL

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix,
            "repaired": list(self.repaired),
        }


@dataclass(slots=True)
class Context:
    """What a check may use: the sources, and whether it may call Keepa's /token."""

    sources: Sources
    keepa: bool = False

    @property
    def settings(self) -> Settings:
        return self.sources.settings

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sources.now_ms() / 1000, tz=UTC)


Runner = Callable[[Context], CheckResult]
Repairer = Callable[[Context, CheckResult], list[str]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    #: the failure class it watches (docs/operations.md)
    title: str
    run: Runner
    repair: Repairer | None = None


def ok(name: str, summary: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Verdict.OK, summary, evidence)


def skipped(name: str, summary: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Verdict.SKIPPED, summary, evidence)


def warn(name: str, summary: str, fix: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Verdict.WARN, summary, evidence, fix)


def fail(name: str, summary: str, fix: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Verdict.FAIL, summary, evidence, fix)


def all_checks() -> tuple[Check, ...]:
    """Every check, in the order doctor runs and prints them."""
    from keepa_deals.ops import (
        checks_alerts,
        checks_budget,
        checks_data,
        checks_infra,
        checks_ingest,
        checks_keepa,
    )

    return (*checks_infra.CHECKS, *checks_data.CHECKS, *checks_keepa.CHECKS, *checks_budget.CHECKS,
            *checks_ingest.CHECKS, *checks_alerts.CHECKS)


def check_names() -> list[str]:
    return [c.name for c in all_checks()]


def run_checks(
    settings: Settings,
    *,
    keepa: bool = False,
    fix: bool = False,
    only: Iterable[str] | None = None,
    clock: Clock | None = None,
    sources: Sources | None = None,
) -> list[CheckResult]:
    """Run every check (or ``only`` those named) and return their results, in order.

    ``keepa``: checks may make one ``/token`` call (free) for clock skew and the
    drift of the token projection; without it they are skipped or judged from
    stored state only (what the dashboard wants).  ``fix``: apply the safe
    repairs and re-check (repairs may call ``/token``: a forced sync).
    ``sources`` lets a caller share its open stores; otherwise they are opened
    here and closed before returning.  Never raises for a broken deployment:
    a check that crashes is reported as failed, with the error as evidence.
    """
    wanted = set(only) if only is not None else None
    unknown = (wanted or set()) - set(check_names())
    if unknown:
        raise ValueError(f"no such checks: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(check_names())}")
    own = sources is None
    src = sources if sources is not None else Sources(settings, clock=clock)
    ctx = Context(src, keepa=keepa or fix)
    try:
        results = []
        for check in all_checks():
            if wanted is not None and check.name not in wanted:
                continue
            result = _run_one(check, ctx)
            if fix and check.repair is not None and result.verdict in (Verdict.WARN, Verdict.FAIL):
                done = _repair(check, ctx, result)
                if done:
                    result = _run_one(check, ctx)
                    result.repaired = done
            results.append(result)
        return results
    finally:
        if own:
            src.close()


def _run_one(check: Check, ctx: Context) -> CheckResult:
    try:
        return check.run(ctx)
    except KeepaDealsError as exc:
        return fail(check.name, f"could not check: {exc}", "see the error", error=str(exc))
    except Exception as exc:  # a bug or an untranslated driver error: report, never crash
        log.exception("doctor check %s crashed", check.name)
        return fail(check.name, f"the check crashed: {type(exc).__name__}: {exc}",
                    "report this as a bug", error=f"{type(exc).__name__}: {exc}")


def _repair(check: Check, ctx: Context, result: CheckResult) -> list[str]:
    assert check.repair is not None
    try:
        return check.repair(ctx, result)
    except KeepaDealsError as exc:
        return [f"repair failed: {exc}"]
    except Exception as exc:
        log.exception("doctor repair %s crashed", check.name)
        return [f"repair crashed: {type(exc).__name__}: {exc}"]


def overall(results: Sequence[CheckResult]) -> Verdict:
    """The worst verdict (skipped only when everything was skipped)."""
    if not results:
        return Verdict.SKIPPED
    return max((r.verdict for r in results), key=lambda v: SEVERITY[v])


def exit_code(results: Sequence[CheckResult]) -> int:
    """1 when any check failed, else 0."""
    return 1 if any(r.failed for r in results) else 0


__all__ = [
    "Check",
    "CheckResult",
    "Context",
    "Verdict",
    "all_checks",
    "check_names",
    "exit_code",
    "overall",
    "run_checks",
]
