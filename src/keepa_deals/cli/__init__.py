"""The ``keepa-deals`` command line (also ``python -m keepa_deals``).

Exit codes: 0 success (including "waiting for tokens" and "locked by another
runner"); 1 the command ran and found a problem; 2 an error (bad settings or
input, Keepa or a store unreachable).
"""

from __future__ import annotations

import sys

from keepa_deals.cli import _commands  # noqa: F401  (registers the verbs)
from keepa_deals.cli._app import app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.keepa.redact import redact
from keepa_deals.runtime import tune_gc


def main(argv: list[str] | None = None) -> None:
    tune_gc()  # see keepa_deals/runtime.py
    try:
        app.main(args=argv, prog_name="keepa-deals", standalone_mode=True)
    except KeepaDealsError as exc:  # pragma: no cover - the root group catches ours
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
