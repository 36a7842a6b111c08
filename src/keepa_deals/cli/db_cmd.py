"""``keepa-deals db``: the deal store's schema.

``db upgrade`` applies pending migrations (opening the store does too);
``db current`` shows the revision the database is at and the one this code
needs.  Exit 0 on success, 1 when ``db current`` finds the schema behind,
2 when the database is unreachable or DATABASE_URL is wrong.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.store import migrate
from keepa_deals.store.engine import database_url, display_url, engine_from_settings


@app.group("db")
def db_group() -> None:
    """The deal store's database schema."""


@db_group.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def upgrade_command(obj: AppContext, as_json: bool) -> None:
    """Apply pending migrations (creating the database when it is new)."""
    try:
        url = display_url(database_url(obj.settings))
        engine = engine_from_settings(obj.settings)
        try:
            before, after = migrate.upgrade(engine)
        finally:
            engine.dispose()
    except KeepaDealsError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json({"database": url, "before": before, "after": after, "changed": before != after})
    elif before == after:
        click.echo(f"{url}: already at {after}")
    else:
        click.echo(f"{url}: upgraded {before or '(empty)'} -> {after}")


@db_group.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def current_command(obj: AppContext, as_json: bool) -> None:
    """Show the schema revision of the database and the one this code needs."""
    try:
        url = display_url(database_url(obj.settings))
        engine = engine_from_settings(obj.settings)
        try:
            current = migrate.current_revision(engine)
        finally:
            engine.dispose()
        head = migrate.head_revision()
    except KeepaDealsError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(
            {"database": url, "current": current, "head": head, "up_to_date": current == head}
        )
    else:
        state = "up to date" if current == head else "behind: run `keepa-deals db upgrade`"
        click.echo(f"{url}: at {current or '(empty)'}, code needs {head} ({state})")
    if current != head:
        raise SystemExit(1)
