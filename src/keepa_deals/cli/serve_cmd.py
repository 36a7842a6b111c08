"""``keepa-deals serve``: the dashboard (deals to act on, the budget's health).

Binds to ``KEEPA_DEALS_WEB_HOST`` (127.0.0.1) by default; any other address needs
``KEEPA_DEALS_WEB_TOKEN`` and the command refuses to start without it (exit 2).
Pending schema migrations are applied first, as every command that opens the store
does (``--no-migrate`` skips that: the dashboard then answers 503 until the schema is
current).  Read-only otherwise.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError


@app.command("serve")
@click.option("--host", default=None,
              help="Address to listen on.  [default: KEEPA_DEALS_WEB_HOST, 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (0: a free one).  [default: KEEPA_DEALS_WEB_PORT, 8000]")
@click.option("--migrate/--no-migrate", default=True, show_default=True,
              help="Apply pending schema migrations before serving.")
@click.option("--json", "as_json", is_flag=True, help="Print the URL as JSON once listening.")
@pass_app
def serve_command(obj: AppContext, host: str | None, port: int | None, migrate: bool,
                  as_json: bool) -> None:
    """Serve the dashboard until interrupted."""
    from keepa_deals.store import migrate as migrations
    from keepa_deals.store.engine import engine_from_settings
    from keepa_deals.web.access import check_bind
    from keepa_deals.web.app import close_app, create_app
    from keepa_deals.web.server import serve

    settings = obj.settings
    host = settings.web_host if host is None else host
    port = settings.web_port if port is None else port
    try:
        check_bind(host, settings.web_token)
        if migrate:
            engine = engine_from_settings(settings)
            try:
                migrations.upgrade(engine)
            finally:
                engine.dispose()
        web = create_app(settings)
    except KeepaDealsError as exc:
        fail(str(exc))
        return

    def ready(url: str) -> None:
        if as_json:
            emit_json({"url": url, "token_required": settings.web_token is not None})
        else:
            click.echo(f"keepa-deals dashboard: {url}")
            if settings.web_token is not None:
                click.echo("sign in with KEEPA_DEALS_WEB_TOKEN")
            click.echo("Ctrl+C to stop.")

    try:
        serve(settings, host=host, port=port, app=web, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its graceful shutdown
        pass
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    finally:
        close_app(web)
