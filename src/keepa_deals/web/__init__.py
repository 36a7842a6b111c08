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
    from fastapi import FastAPI


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """See :func:`keepa_deals.web.app.create_app`."""
    from keepa_deals.web.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
