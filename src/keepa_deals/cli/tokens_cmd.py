"""``keepa-deals tokens``: the key's token status as Keepa reports it, and the budget's.

``tokens sync`` calls /token (free) through the shared token budget, records
the answer there (replacing whatever state was stored) and prints it;
``--json`` prints it under Keepa's wire names.  Exit 2 when the key is
missing or invalid, or Keepa cannot be reached; 1 when the status could not
be recorded (the budget's store is down).

``tokens status`` shows the shared budget as stored (no Keepa call): the
anchor and its age, the projection, the leases, the recharge state, and the
reason for each.  Exit 2 when the budget's store is unreachable.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.keepa import build_http
from keepa_deals.keepa.errors import InvalidKey, KeepaTransportError, PaymentRequired
from keepa_deals.tokens.status import TokenStatus


@app.group("tokens")
def tokens_group() -> None:
    """The Keepa token balance."""


def sync_status(obj: AppContext) -> tuple[TokenStatus, str | None]:
    """Ask Keepa (/token, free) through the shared budget and record the answer there.

    The TokenManager makes the call (a forced, authoritative sync), so the
    stored anchor is replaced by Keepa's word whatever state it was in: this
    is how ``tokens sync`` repairs the shared state.  Returns the status and,
    when the budget's store could not record it, why.
    """
    from keepa_deals.budget import BudgetError, open_budget

    with build_http(obj.settings) as http:
        fetched: list[TokenStatus] = []

        def ask() -> TokenStatus:
            fetched.append(http.token_status())
            return fetched[-1]

        manager = open_budget(obj.settings, sync=ask)
        try:
            manager.sync_tokens(force=True)
        except BudgetError as exc:
            if not fetched:
                raise
            return fetched[-1], str(exc)
        finally:
            manager.store.close()
        return fetched[-1], None


@tokens_group.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print Keepa's wire fields as JSON.")
@pass_app
def sync_command(obj: AppContext, as_json: bool) -> None:
    """Ask Keepa for the token status (costs nothing) and print it."""
    try:
        status, not_recorded = sync_status(obj)
    except InvalidKey as exc:
        fail(f"Keepa rejected the access key (KEEPA_API_KEY): {exc}")
        return
    except PaymentRequired as exc:
        fail(f"the access key has no active Keepa plan: {exc}")
        return
    except KeepaTransportError as exc:
        fail(f"{exc} (check KEEPA_API_URL)")
        return
    except KeepaDealsError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(status.to_wire())
    else:
        click.echo(f"tokensLeft          {status.tokens_left}")
        click.echo(f"refillRate          {status.refill_rate} per minute")
        click.echo(f"refillIn            {status.refill_in_ms / 1000:.1f} s")
        click.echo(f"tokenFlowReduction  {status.token_flow_reduction:g}")
        click.echo(f"timestamp           {status.timestamp.isoformat()}")
    if not_recorded:
        click.echo(f"warning: not recorded in the token budget: {not_recorded}", err=True)
        raise SystemExit(1)


@tokens_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status_command(obj: AppContext, as_json: bool) -> None:
    """The shared token budget: anchor, projection, leases, recharge, and why (no Keepa call)."""
    from keepa_deals.ops.budget_view import UNREACHABLE, budget_view, render
    from keepa_deals.ops.sources import Sources

    with Sources(obj.settings) as sources:
        view = budget_view(sources)
    if as_json:
        emit_json(view)
    else:
        for line in render(view):
            click.echo(line)
    if view["state"] == UNREACHABLE:
        raise SystemExit(2)
