"""``keepa-deals status``: is everything flowing, in one view.

The token budget (with reasons), Redis and the database, lock holders, the
last runs, the deal count and its 24 h trend, the age of the newest deal and
of each watermark, the janitor, progress and the running version.  A part
that is down reads "unreachable"/"unknown"; the command still prints the
rest.  Exit 0 (it only reports; ``doctor`` and ``health`` judge).
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, pass_app


@app.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status_command(obj: AppContext, as_json: bool) -> None:
    """Show the budget, locks, runs, deals, watermarks, janitor and version."""
    from keepa_deals.ops.status import collect_status, render

    status = collect_status(obj.settings)
    if as_json:
        emit_json(status)
        return
    for line in render(status):
        click.echo(line)
