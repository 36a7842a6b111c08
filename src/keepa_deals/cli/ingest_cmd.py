"""``keepa-deals ingest --once``: one Smart Ingestor run per query.

The queries are those of ``KEEPA_DEALS_QUERIES`` (the built-in default when
unset), or the one ``--query`` names.

Exit 0 when the run ended ``ok``, ``waiting_for_tokens`` (``retry_after_s``
says when to come back) or ``locked`` (another runner holds the query);
2 when it failed (Keepa, the database, the settings or the query file).
``--json`` prints the run report: ``outcome``, ``deals_added``,
``deals_updated``, ``deals_rejected``, ``deals_removed``, ``tokens_spent``,
``pages``, ``retry_after_s``, ``run_id`` and more (with several queries:
``{"runs": [report, ...]}``; exit 2 when any of them failed).
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError


def describe(report: object) -> str:
    """One line for people: what a run did."""
    from keepa_deals.ingest import IngestReport

    assert isinstance(report, IngestReport)
    c = report.counts
    run = f"run {report.run_id}" if report.run_id is not None else "run (not recorded)"
    text = (f"{run} {report.outcome.value}: {c.added} new, {c.updated} updated, "
            f"{c.rejected} rejected, {c.removed} removed; {c.tokens_spent} tokens, "
            f"{c.pages} page{'s' if c.pages != 1 else ''}")
    if report.balance is not None:
        text += f"; balance {report.balance}"
    if report.retry_after_s is not None:
        text += f"; come back in {report.retry_after_s:.0f} s"
    if report.error:
        text += f" ({report.error})"
    return text


@app.command("ingest")
@click.option("--once", is_flag=True, help="Run the ingestor once (required; "
              "`keepa-deals run` ingests on a schedule).")
@click.option("--query", "query_spec", default=None, metavar="FILE",
              help="A query file, or the name of a built-in query "
                   "(default: every query of KEEPA_DEALS_QUERIES, else used-books-us).")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@pass_app
def ingest_command(obj: AppContext, once: bool, query_spec: str | None, as_json: bool) -> None:
    """Fetch new deals from Keepa into the deal store (one run per query)."""
    if not once:
        fail("give --once for one run, or use `keepa-deals run` to ingest on a schedule")
    from keepa_deals.ingest import open_env, smart_ingestor
    from keepa_deals.ingest.pipeline import check_queries
    from keepa_deals.ops import logging as ops_logging
    from keepa_deals.settings import resolve_queries

    try:
        settings = obj.settings
        ops_logging.configure(settings, level="WARNING" if as_json else None)
        # every query file read and checked before the first token is spent
        queries = resolve_queries(settings, query_spec)
        check_queries(queries)
        with open_env(settings) as env:
            reports = [smart_ingestor(env, query) for query in queries]
    except KeepaDealsError as exc:
        if as_json:
            emit_json({"outcome": "error", "error": str(exc), "deals_added": 0,
                       "deals_updated": 0, "tokens_spent": 0, "retry_after_s": None})
            raise SystemExit(2) from None
        fail(str(exc))
    if as_json:
        emit_json(reports[0].as_dict() if len(reports) == 1
                  else {"runs": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            click.echo(describe(report) if len(reports) == 1
                       else f"{report.query}: {describe(report)}")
    if not all(report.ok for report in reports):
        raise SystemExit(2)
