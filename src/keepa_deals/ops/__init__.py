"""Operations: see it and heal it.

::

    ops.status.collect_status(settings)      # `keepa-deals status`: everything, or "unreachable"
    ops.doctor.run_checks(settings)          # `keepa-deals doctor`: one check per failure class
    ops.health.health_report(settings)       # `keepa-deals health`: progress, for supervisors
    ops.health_app.create_health_app(settings)      # /healthz and /metrics (ASGI)
    ops.metrics.deals_added(n) ...           # Prometheus counters the ingestor moves
    ops.logging.configure(settings)          # structlog, once per process

docs/operations.md describes every status field, every doctor check (its
evidence and its fix), the health semantics, the metric names, the log
format and the expected log volume.  Modules are imported on demand: this
package imports nothing heavy by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keepa_deals.ops.doctor import CheckResult, Verdict, run_checks
    from keepa_deals.ops.health import HealthReport, health_report
    from keepa_deals.ops.status import collect_status

_LAZY = {
    "CheckResult": "keepa_deals.ops.doctor",
    "Verdict": "keepa_deals.ops.doctor",
    "run_checks": "keepa_deals.ops.doctor",
    "HealthReport": "keepa_deals.ops.health",
    "health_report": "keepa_deals.ops.health",
    "collect_status": "keepa_deals.ops.status",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keepa_deals.ops' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["CheckResult", "HealthReport", "Verdict", "collect_status", "health_report",
           "run_checks"]
