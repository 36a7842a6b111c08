"""``keepa-deals doctor``: one check per failure class, each with its evidence and fix.

By default doctor makes one ``/token`` call (free) when a well-formed key is
configured, for the key check (does Keepa accept it?), clock skew and the
projection's drift; ``--offline`` makes none.
``--fix`` applies the safe repairs only (a forced /token sync, releasing an
expired or orphaned lock, clearing a recharge mode whose exit condition
holds) and checks again; it never deletes a deal.  Exit 1 when any check
fails, else 0.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, pass_app

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skipped": "skip"}


@app.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--fix", is_flag=True, help="Apply the safe repairs, then check again.")
@click.option("--offline", is_flag=True, help="Make no Keepa call (skips clock skew vs Keepa).")
@click.option("--check", "only", multiple=True, metavar="NAME",
              help="Run only this check (repeatable).")
@click.option("-v", "--verbose", is_flag=True, help="Print each check's evidence.")
@pass_app
def doctor_command(obj: AppContext, as_json: bool, fix: bool, offline: bool,
                   only: tuple[str, ...], verbose: bool) -> None:
    """Check every failure class that can be seen from outside; --fix repairs the safe ones."""
    import json

    from keepa_deals.ops.doctor import exit_code, overall, run_checks

    keepa = not offline  # without a key, the key check says so; the others skip Keepa
    try:
        results = run_checks(obj.settings, keepa=keepa, fix=fix and not offline,
                             only=list(only) or None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        emit_json({"verdict": overall(results).value,
                   "checks": [r.as_dict() for r in results]})
    else:
        for r in results:
            click.echo(f"[{_MARK[r.verdict.value]}] {r.name:<12} {r.summary}")
            for action in r.repaired:
                click.echo(f"{'':19}repaired: {action}")
            if r.fix and r.verdict.value in ("warn", "fail"):
                click.echo(f"{'':19}fix: {r.fix}")
            if verbose and r.evidence:
                for line in json.dumps(r.evidence, indent=2, default=str).splitlines():
                    click.echo(f"{'':19}{line}")
        click.echo(f"overall: {overall(results).value}")
    raise SystemExit(exit_code(results))
