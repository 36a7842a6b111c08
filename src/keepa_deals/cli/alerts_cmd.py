"""``keepa-deals alerts``: destinations, deal alerts and what was sent (docs/alerts.md).

Destinations are Apprise URLs; they hold secrets, so they are printed masked
(``json://host/*** (#fingerprint)``), never whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from keepa_deals.cli._app import AppContext, app, emit_json, fail, pass_app
from keepa_deals.cli.run_cmd import Duration
from keepa_deals.settings import Settings


@contextmanager
def _service(settings: Settings) -> Iterator[Any]:
    from keepa_deals.alerts.service import AlertService
    from keepa_deals.store import DealStore

    with DealStore.open(settings) as store:
        yield AlertService(settings, store)


def _check_urls(urls: tuple[str, ...] | list[str]) -> list[str]:
    from keepa_deals.store.destinations import masked, problem

    for i, url in enumerate(urls, 1):
        why = problem(url)
        if why:
            fail(f"--to #{i} ({masked(url)}): {why}")
    return [u.strip() for u in urls]


@app.group("alerts")
def alerts_group() -> None:
    """Deal alerts and health alerts through Apprise URLs (Discord, Slack, email, webhooks…)."""


@alerts_group.command("test")
@click.option("--to", "to", multiple=True, metavar="URL",
              help="An Apprise URL (default: every URL of KEEPA_DEALS_ALERT_URLS).")
@pass_app
def test_command(obj: AppContext, to: tuple[str, ...]) -> None:
    """Send a test message now; exit 1 when a destination did not take it."""
    from keepa_deals.alerts.send import send
    from keepa_deals.store.destinations import masked
    from keepa_deals.store.outbox import message_id

    settings = obj.settings
    urls = _check_urls(list(to) or list(settings.alert_urls))
    if not urls:
        fail("no destination: give --to URL or set KEEPA_DEALS_ALERT_URLS")
    key = obj.secret_key()
    import time

    mid = message_id("test", time.time_ns())
    failed = 0
    for url in urls:
        sent = send(url, "[keepa-deals] test message",
                    f"keepa-deals can reach this destination.\n\nid: {mid}",
                    timeout_s=settings.alert_timeout_s, message_id=mid, key=key)
        click.echo(f"{masked(url)}: {'sent' if sent.ok else 'FAILED: ' + str(sent.error)}")
        failed += not sent.ok
    if failed:
        raise SystemExit(1)


@alerts_group.command("add")
@click.option("--name", required=True, help="The alert's name (its saved search's).")
@click.option("--filter", "filter_text", required=True, metavar="QUERY",
              help="The dashboard's filter grammar, e.g. 'min_profit=10&min_roi=50'.")
@click.option("--to", "to", multiple=True, required=True, metavar="URL",
              help="An Apprise URL (repeat for several).")
@click.option("--digest", type=Duration(), default=None,
              help="At most one message per this long (15m, 1h): the best deals.")
@click.option("--quiet", default=None, metavar="HH:MM-HH:MM",
              help="Quiet hours (UTC): messages wait for their end.")
@pass_app
def add_command(obj: AppContext, name: str, filter_text: str, to: tuple[str, ...],
                digest: float | None, quiet: str | None) -> None:
    """Announce each new deal matching QUERY (deals stored now are not announced)."""
    from keepa_deals.alerts.courier import parse_quiet
    from keepa_deals.alerts.matching import canonical, compile_filter
    from keepa_deals.store.alerting import AlertBook
    from keepa_deals.store.destinations import masked
    from keepa_deals.web.forms import FilterError

    try:
        text = canonical(filter_text)
    except FilterError as exc:
        fail(f"--filter: {exc}")
    if quiet:
        try:
            parse_quiet(quiet)
        except ValueError as exc:
            fail(f"--quiet: {exc}")
    urls = _check_urls(to)
    with _service(obj.settings) as service:
        clause = service.store.matcher(text, service.store.now()) if service.store.matcher \
            else compile_filter(text)
        record = AlertBook(service.store).save_search(
            name, text, destinations=urls, digest_s=int(digest) if digest else None,
            quiet_hours=quiet, baseline=clause)
    click.echo(f"alert {record.name}: {record.filter_text or '(every deal)'} → "
               + ", ".join(masked(u) for u in record.destinations)
               + (f", digest every {int(digest)} s" if digest else "")
               + (f", quiet {quiet} UTC" if quiet else ""))


def _alert_dict(r: Any) -> dict[str, Any]:
    from keepa_deals.store.destinations import masked

    return {"name": r.name, "filter": r.filter_text,
            "to": [masked(u) for u in r.destinations], "digest_s": r.digest_s,
            "quiet_hours": r.quiet_hours, "created_at": r.created_at.isoformat()}


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_command(obj: AppContext, as_json: bool) -> None:
    """The deal alerts, and where health alerts go (destinations masked)."""
    from keepa_deals.store.alerting import AlertBook
    from keepa_deals.store.destinations import masked

    with _service(obj.settings) as service:
        alerts = [_alert_dict(r) for r in AlertBook(service.store).searches() if r.is_alert]
    health = [masked(u) for u in obj.settings.alert_urls]
    if as_json:
        emit_json({"alerts": alerts, "health_to": health})
        return
    for a in alerts:
        extra = (f"  digest {a['digest_s']} s" if a["digest_s"] else "") + (
            f"  quiet {a['quiet_hours']}" if a["quiet_hours"] else "")
        click.echo(f"{a['name']}: {a['filter'] or '(every deal)'} → {', '.join(a['to'])}{extra}")
    if not alerts:
        click.echo("no deal alert (add one: keepa-deals alerts add --name … --filter … --to …)")
    click.echo("health alerts → " + (", ".join(health) or "nowhere (set KEEPA_DEALS_ALERT_URLS)"))


@alerts_group.command("remove")
@click.argument("name")
@pass_app
def remove_command(obj: AppContext, name: str) -> None:
    """Stop the alert NAME (its saved search stays; its unsent messages are dropped)."""
    from keepa_deals.store.alerting import AlertBook

    with _service(obj.settings) as service:
        if not AlertBook(service.store).stop_alert(name):
            fail(f"no alert named {name!r} (see `keepa-deals alerts list`)")
    click.echo(f"alert {name} removed")


@alerts_group.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=30, help="How many messages.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def history_command(obj: AppContext, limit: int, as_json: bool) -> None:
    """The latest messages of the outbox, newest first, with their status."""
    from keepa_deals.store.alerting import AlertBook

    with _service(obj.settings) as service:
        book = AlertBook(service.store)
        shown = _masked_all(obj.settings, book)
        rows = book.recent(limit)
    out = []
    for r in rows:
        payload = json.loads(r.payload)
        if r.kind == "health":
            what = f"{payload.get('event')}: {payload.get('title')}"
        elif r.kind == "deal":
            what = f"{payload.get('search')}: {payload.get('asin')} {payload.get('title') or ''}"
        else:
            what = payload.get("title")
        out.append({"id": r.message_id, "kind": r.kind, "status": r.status,
                    "to": shown.get(r.destination, f"#{r.destination[:8]} (removed)"),
                    "what": str(what)[:100], "attempts": r.attempts, "error": r.error,
                    "created_at": r.created_at.isoformat(),
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None})
    if as_json:
        emit_json(out)
        return
    for o in out:
        click.echo(f"{o['created_at'][:19]}  {o['status']:<8} {o['kind']:<6} {o['to']}  "
                   f"{o['what']}" + (f"  ({o['attempts']} attempts: {o['error']})"
                                     if o["error"] else ""))
    if not out:
        click.echo("nothing sent yet")


def _masked_all(settings: Settings, book: Any) -> dict[str, str]:
    from keepa_deals.store.destinations import all_urls, masked_by_fingerprint

    return masked_by_fingerprint(
        all_urls(settings.alert_urls, (s.destinations for s in book.searches())))


@alerts_group.command("drain")
@click.option("--health/--no-health", default=True, help="Check the health alerts first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def drain_command(obj: AppContext, health: bool, as_json: bool) -> None:
    """Send what the outbox holds now (for cron, or after an outage); exit 1 on a failure."""
    with _service(obj.settings) as service:
        if health:
            service.check_health()
        report = service.courier.drain()
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"sent {report.sent}, failed {report.failed}, deferred {report.deferred}, "
                   f"dropped {report.dropped}, gave up {report.dead}"
                   + (f" (failing: {', '.join(sorted(set(report.failing)))})"
                      if report.failing else ""))
    if report.failed or report.dead:
        raise SystemExit(1)
