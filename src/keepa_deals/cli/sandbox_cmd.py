"""``keepa-deals sandbox``: serve the sandbox Keepa server on real time."""

from __future__ import annotations

import click

from keepa_deals.cli._app import app, emit_json, fail


@app.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--tokens", type=int, default=None,
              help="The demo account's starting balance (default: a full bucket, 60 x rate).")
@click.option("--rate", type=click.IntRange(0), default=None,
              help="The demo account's refill rate, tokens per minute.  [default: 20]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the catalog and deal feed.")
@click.option("--event-interval", type=click.FloatRange(min=0.001), default=20.0, show_default=True,
              help="Mean seconds between deal events.")
@click.option("--backlog", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Seconds of deal events already present at start.")
@click.option("--json", "as_json", is_flag=True, help="Print the URL and demo key as JSON.")
def sandbox_command(
    host: str,
    port: int,
    tokens: int | None,
    rate: int | None,
    seed: int,
    event_interval: float,
    backlog: float,
    as_json: bool,
) -> None:
    """Serve a Keepa-compatible sandbox server until interrupted.

    Point keepa-deals at it with KEEPA_API_URL=<url> and KEEPA_API_KEY=<demo key>.
    The demo key is a sandbox key: it grants nothing at api.keepa.com.
    """
    from keepa_deals.sandbox import DEMO_KEY, DEMO_RATE, CatalogConfig, Sandbox, serve
    from keepa_deals.tokens.economics import cap_for

    rate = DEMO_RATE if rate is None else rate
    sandbox = Sandbox(
        catalog=CatalogConfig(seed=seed, event_interval_s=event_interval, backlog_s=backlog),
        demo_tokens=cap_for(rate) if tokens is None else tokens,
        demo_rate=rate,
    )

    def ready(url: str) -> None:
        if as_json:
            emit_json({"url": url, "demo_key": DEMO_KEY, "admin": f"{url}/_sandbox/state"})
        else:
            click.echo(f"sandbox Keepa server: {url}")
            click.echo(f"demo key:             {DEMO_KEY}")
            click.echo(f"admin state:          {url}/_sandbox/state")
            click.echo("Ctrl+C to stop.")

    try:
        serve(sandbox, host=host, port=port, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its graceful shutdown
        pass
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
