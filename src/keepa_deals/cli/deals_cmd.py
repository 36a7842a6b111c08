"""``keepa-deals deals list`` and ``deals export``: the current deals from the terminal.

``--filter`` takes the dashboard's own filter grammar (``min_profit=10&min_roi=50``,
money in units), read by ``keepa_deals.web.forms.parse_query``: one parser for the
dashboard, the API and the terminal.  Both read the store only (never Keepa), through
the one definition of a deal.

``list`` prints a table (best first: each sort's natural order, profit highest first) or,
with ``--json``, the API's list items.  ``export`` writes every column, the profit's
breakdown included, as CSV (with a header) or JSON, streamed, to a file (written
whole or not at all) or to stdout.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from keepa_deals.deals_view import DealDefinition
    from keepa_deals.web.listing import ListRequest

#: The most rows ``list`` prints.
MAX_LIST = 1000
_SORTS = ("profit", "roi", "margin", "rank", "drops30", "drops90", "price", "below_avg",
          "last_seen", "sales")


@app.group("deals")
def deals_group() -> None:
    """List or export the current deals (read from the store)."""


def _request(text: str | None, sort: str | None, order: str | None,
             limit: int | None) -> ListRequest:
    from keepa_deals.web.forms import FilterError, parse_query

    try:
        request = parse_query(text or "")
    except FilterError as exc:
        fail(f"--filter: {'; '.join(exc.errors)}")
    changes: dict[str, Any] = {}
    if sort is not None:
        changes["sort"] = sort
    if order is not None:
        changes["order"] = order
    if limit is not None:
        changes["limit"] = min(limit, 200)
    return request.model_validate({**request.model_dump(exclude_none=True), **changes})


@contextmanager
def _reading(obj: AppContext) -> Iterator[tuple[Connection, DealDefinition]]:
    """A read-only connection to the store at the code's schema, and the deal definition."""
    from keepa_deals.deals_view import DealDefinition
    from keepa_deals.store import migrate
    from keepa_deals.store.engine import engine_from_settings, translate_errors

    settings = obj.settings
    definition = DealDefinition.from_settings(settings)
    engine = engine_from_settings(settings)
    try:
        migrate.ensure_current(engine)
        with translate_errors(engine.url), engine.connect() as conn, conn.begin():
            yield conn, definition
    finally:
        engine.dispose()


@deals_group.command("list")
@click.option("--filter", "filter_text", default=None, metavar="QUERY",
              help="Filters as the dashboard writes them: 'min_profit=10&min_roi=50'.")
@click.option("--sort", type=click.Choice(_SORTS), default=None,
              help="The column to sort by (default profit, best first).")
@click.option("--order", type=click.Choice(["asc", "desc"]), default=None,
              help="Default: the column's natural order, best first.")
@click.option("--limit", type=click.IntRange(1, MAX_LIST), default=20, show_default=True,
              help="How many deals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's list items).")
@pass_app
def list_command(obj: AppContext, filter_text: str | None, sort: str | None,
                 order: str | None, limit: int, as_json: bool) -> None:
    """Print the current deals, best first."""
    from keepa_deals.web.api import deal_item
    from keepa_deals.web.listing import list_deals

    request = _request(filter_text, sort, order, limit)
    items: list[Any] = []
    total = 0
    exact = True
    with _reading(obj) as (conn, definition):
        now = datetime.now(UTC)
        offset = request.offset
        while len(items) < limit:
            page = request.model_copy(update={"offset": offset,
                                              "limit": min(200, limit - len(items))})
            found = list_deals(conn, definition, now, page)
            if not items:
                total, exact = found.total, found.total_exact
            items.extend(deal_item(r) for r in found.rows)
            offset += len(found.rows)
            if not found.more or not found.rows:
                break
    if as_json:
        emit_json({"items": [i.model_dump(mode="json") for i in items], "total": total,
                   "total_exact": exact, "sort": request.sort.value,
                   "order": request.effective_order.value,
                   "filters": request.filters().active()})
        return
    for line in table(items):
        click.echo(line)
    shown = f"{len(items)} of {total if exact else f'more than {total}'} deals"
    click.echo(f"{shown}, by {request.sort.value} ({request.effective_order.value})")


def _money(cents: int | None) -> str:
    if cents is None:
        return "–"
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}%"


def table(items: list[Any]) -> list[str]:
    """The list as aligned text columns (money in units, to the cent)."""
    head = ("ASIN", "PROFIT", "ROI", "PRICE", "SALE", "RANK", "SALES/MO", "AMZ", "OFFERS U/N/F",
            "TITLE")
    rows = []
    for d in items:
        sales = "–" if d.sales_per_month is None else (
            f"~{d.sales_per_month}" if d.sales_estimated else str(d.sales_per_month))
        amazon = "?" if d.amazon_in_stock is None else ("yes" if d.amazon_in_stock else "no")
        offers = "/".join("–" if v is None else str(v)
                          for v in (d.offers_used, d.offers_new, d.offers_fba))
        title = (d.title or "")[:48]
        rows.append((d.asin, _money(d.profit_cents), _pct(d.roi_percent),
                     _money(d.price_cents), _money(d.est_sale_price_cents),
                     "–" if d.sales_rank is None else f"{d.sales_rank:,}", sales, amazon,
                     offers, title))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {1, 2, 3, 4, 5, 6}

    def fmt(r: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return [fmt(head), *(fmt(r) for r in rows)]


@deals_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True,
              help="csv (with a header line) or json (an array of objects).")
@click.option("--filter", "filter_text", default=None, metavar="QUERY",
              help="Filters as the dashboard writes them: 'min_profit=10&min_roi=50'.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The file to write (default: stdout).")
@pass_app
def export_command(obj: AppContext, fmt: str, filter_text: str | None,
                   output: Path | None) -> None:
    """Write every column of the current deals (profit breakdown included), best first."""
    from keepa_deals.web import export

    request = _request(filter_text, None, None, None)
    write = export.write_csv if fmt == "csv" else export.write_json
    with _reading(obj) as (conn, definition):
        records = export.rows(conn, definition, datetime.now(UTC), request.filters(),
                              request.sort, request.order)
        if output is None:
            write(records, sys.stdout)
            return
        with _atomic(output) as fh:
            n = write(records, fh)
    click.echo(f"wrote {n} deals to {output}", err=True)


@contextmanager
def _atomic(path: Path) -> Iterator[IO[str]]:
    """A file that appears whole at ``path`` when the block succeeds, else not at all."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
