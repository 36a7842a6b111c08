"""The dashboard: deals to act on, and the token budget's health at a glance.

::

    app = create_app(settings)                 # a FastAPI app (ASGI)
    app = create_app(settings, engine=engine, budget=manager)   # share the worker's

Read-only: the web tier never writes to the deal store or the budget.  See
docs/dashboard.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keepa_deals.web.app import create_app


def __getattr__(name: str) -> Any:
    # FastAPI is imported when the dashboard is made, not when the package is
    if name == "create_app":
        from keepa_deals.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
