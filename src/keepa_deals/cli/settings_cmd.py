"""``keepa-deals settings``: show the effective settings (the key masked)."""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, pass_app


@app.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def settings_command(obj: AppContext, as_json: bool) -> None:
    """Show the effective settings; the API key is shown only as set or unset."""
    s = obj.settings
    env = s.env_names()
    rows = {}
    for name in type(s).model_fields:
        value = getattr(s, name)
        if name == "keepa_api_key":
            value = "(set)" if value else "(unset)"
        rows[env[name]] = value
    if as_json:
        emit_json(rows)
    else:
        for k, v in rows.items():
            click.echo(f"{k}={'' if v is None else v}")
