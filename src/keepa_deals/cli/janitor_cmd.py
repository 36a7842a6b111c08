"""``keepa-deals janitor --once``: retire deals ingestion has stopped re-checking.

Deletes nothing for a query whose ingestor is not completing healthy cycles,
and says why (see keepa_deals/janitor.py).  Exit 0 when the pass ran (held
back included), 2 when the database or the settings fail.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError


@app.command("janitor")
@click.option("--once", is_flag=True, help="Run one janitor pass (required; "
              "`keepa-deals run` runs it on a schedule).")
@click.option("--query", "query_spec", default=None, metavar="FILE",
              help="Only this query (a file or a built-in name); default: every query with deals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def janitor_command(obj: AppContext, once: bool, query_spec: str | None, as_json: bool) -> None:
    """Retire deals not re-checked within the grace period (never during an outage)."""
    if not once:
        fail("give --once for one pass, or use `keepa-deals run`, which runs the janitor too")
        return
    from keepa_deals.janitor import run_janitor
    from keepa_deals.query import resolve_query
    from keepa_deals.store import DealStore

    try:
        settings = obj.settings
        queries = None if query_spec is None else [resolve_query(query_spec).name]
        with DealStore.open(settings) as store:
            reports = run_janitor(store, settings, queries)
    except KeepaDealsError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json({"grace_h": settings.janitor_grace_h, "queries": [r.as_dict() for r in reports],
                   "removed": sum(r.removed for r in reports)})
        return
    if not reports:
        click.echo("no deals stored: nothing to do")
    for r in reports:
        if r.held_back:
            click.echo(f"{r.query}: deleted nothing: {r.held_back}")
        else:
            click.echo(f"{r.query}: retired {r.removed} deals not re-checked since "
                       f"{r.cutoff.isoformat(timespec='minutes')}")
