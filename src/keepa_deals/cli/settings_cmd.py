"""``keepa-deals settings``: the effective settings and where each came from.

Each line is ``NAME=value  (source)``: ``env`` (the environment), ``.env``
(the file in the working directory) or ``default``.  Values are the ones every
command uses: ``KEEPA_DEALS_QUERIES`` shows the queries ingested (the built-in
default when unset), ``DATABASE_URL`` the embedded SQLite file when unset.
The key and the web token are shown only as set or unset, and a password in a
URL as ``***``.
"""

from __future__ import annotations

from typing import Any

import click

from keepa_deals.cli._app import AppContext, app, emit_json, pass_app
from keepa_deals.settings import Settings


def effective_rows(s: Settings) -> dict[str, dict[str, Any]]:
    """``{ENV_NAME: {"value": ..., "source": ...}}`` for every setting."""
    from keepa_deals.store.engine import display_url

    env = s.env_names()
    sources = s.value_sources()
    rows: dict[str, dict[str, Any]] = {}
    for name in type(s).model_fields:
        value: Any = getattr(s, name)
        source = sources[name]
        if name in ("keepa_api_key", "web_token"):
            value = "(set)" if value else "(unset)"
        elif name == "queries":
            value = s.query_specs()
            if not s.queries:
                source = "default"
        elif name == "database_url":
            value = display_url(s.effective_database_url())
            if not s.database_url:
                value += " (embedded SQLite)"
        elif name in ("redis_url", "celery_broker_url") and value:
            value = display_url(value)
        elif name == "alert_urls":
            from keepa_deals.store.destinations import masked

            value = [masked(u) for u in value]
        elif value is not None and not isinstance(value, int | float | bool | str):
            value = str(value)
        rows[env[name]] = {"value": value, "source": source}
    return rows


@app.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def settings_command(obj: AppContext, as_json: bool) -> None:
    """Show the effective settings and where each came from (secrets only as set/unset)."""
    rows = effective_rows(obj.settings)
    if as_json:
        emit_json(rows)
        return
    lines = []
    for k, row in rows.items():
        v = row["value"]
        shown = ",".join(v) if isinstance(v, list) else ("" if v is None else str(v))
        lines.append((f"{k}={shown}", row["source"]))
    width = min(72, max(len(text) for text, _ in lines))
    for text, source in lines:
        click.echo(f"{text:<{width}}  ({source})")
