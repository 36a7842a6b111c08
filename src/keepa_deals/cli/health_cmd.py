"""``keepa-deals health``: is ingestion making progress?  For supervisors.

Progress is a successful run, a watermark move or a deal row written within
``health_stall_intervals`` × ``ingest_interval_s``; runs that keep failing
(3 in a row, or one refused key) are ``failing`` whatever else moved.  Exit 0
healthy, 1 stalled or failing, 2 when the database cannot be read or the
port of ``--serve`` is in use.  ``--serve [PORT]`` serves
``/healthz`` (200 or 503, the same report) and ``/metrics`` instead, until
interrupted.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, cannot_listen, emit_json, fail, pass_app


@app.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--serve", "serve_port", type=click.IntRange(-1, 65535), default=None,
              is_flag=False, flag_value=-1,
              metavar="PORT",
              help="Serve /healthz and /metrics on PORT (default: KEEPA_DEALS_METRICS_PORT).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@pass_app
def health_command(obj: AppContext, as_json: bool, serve_port: int | None, host: str) -> None:
    """Exit non-zero when ingestion has made no progress for N intervals."""
    if serve_port is not None:
        from keepa_deals.ops.health_app import serve

        port = obj.settings.metrics_port if serve_port < 0 else serve_port
        try:
            serve(obj.settings, host=host, port=port,
                  on_ready=lambda url: click.echo(f"serving {url}/healthz and {url}/metrics"))
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its graceful shutdown
            pass
        except OSError as exc:
            fail(cannot_listen("/healthz and /metrics", host, port, exc))
        return
    from keepa_deals.ops.health import health_report

    report = health_report(obj.settings)
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"{report.state}: {report.reason}")
    raise SystemExit(report.exit_code)
