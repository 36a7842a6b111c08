"""``keepa-deals tokens``: the key's token status as Keepa reports it.

``tokens sync`` calls /token (free) and prints the status; ``--json`` prints
it under Keepa's wire names.  Exit 2 when the key is missing or invalid, or
Keepa cannot be reached.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.keepa import build_http
from keepa_deals.keepa.errors import InvalidKey, KeepaTransportError, PaymentRequired
from keepa_deals.keepa.status import TokenStatus


@app.group("tokens")
def tokens_group() -> None:
    """The Keepa token balance."""


def record_status(obj: AppContext, status: TokenStatus) -> None:
    """Where a status synced by ``tokens sync`` is recorded.

    The shared token budget reconciles with it here; with no budget
    configured there is nothing to record.
    """


def fetch_status(obj: AppContext) -> TokenStatus:
    """Ask Keepa (/token, free) for the key's status."""
    with build_http(obj.settings) as http:
        return http.token_status()


@tokens_group.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print Keepa's wire fields as JSON.")
@pass_app
def sync_command(obj: AppContext, as_json: bool) -> None:
    """Ask Keepa for the token status (costs nothing) and print it."""
    try:
        status = fetch_status(obj)
        record_status(obj, status)
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
        return
    click.echo(f"tokensLeft          {status.tokens_left}")
    click.echo(f"refillRate          {status.refill_rate} per minute")
    click.echo(f"refillIn            {status.refill_in_ms / 1000:.1f} s")
    click.echo(f"tokenFlowReduction  {status.token_flow_reduction:g}")
    click.echo(f"timestamp           {status.timestamp.isoformat()}")
