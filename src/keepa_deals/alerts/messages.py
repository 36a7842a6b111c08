"""What an alert says: a deal, a digest of deals, a health alert, a test.

Every message ends with its id (``id: …``): the same deal announced again after a
crash carries the same id, so a receiver can drop the repeat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keepa_deals.store.links import amazon_url, keepa_url

PREFIX = "[keepa-deals]"


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    id: str


def _money(cents: Any) -> str:
    return "?" if cents is None else f"${int(cents) / 100:,.2f}"


def _pct(value: Any) -> str:
    return "?" if value is None else f"{float(value):.0f} %"


def deal_lines(p: Mapping[str, Any]) -> list[str]:
    asin, domain = str(p.get("asin")), int(p.get("domain_id") or 1)
    lines = [
        f"{p.get('title') or asin}",
        f"price {_money(p.get('current_price_cents'))} · profit "
        f"{_money(p.get('profit_cents'))} · ROI {_pct(p.get('roi_percent'))} · sells for "
        f"{_money(p.get('est_sale_price_cents'))}",
        f"sales rank {p.get('sales_rank') or '?'}"
        + (f" · ~{p['rank_drops_30']} sales/month (rank drops in 30 days)"
           if p.get("rank_drops_30") is not None else ""),
        f"Amazon: {amazon_url(asin, domain)}",
        f"Keepa: {keepa_url(asin, domain)}",
    ]
    return lines


def deal_message(p: Mapping[str, Any], mid: str) -> Message:
    title = (f"{PREFIX} {p.get('search')}: {_money(p.get('profit_cents'))} profit — "
             f"{str(p.get('title') or p.get('asin'))[:80]}")
    return Message(title, "\n".join([*deal_lines(p), "", f"id: {mid}"]), mid)


def digest_message(search: str, payloads: Sequence[Mapping[str, Any]], more: int,
                   mid: str) -> Message:
    n = len(payloads) + more
    title = f"{PREFIX} {search}: {n} new deal{'s' if n != 1 else ''}"
    parts: list[str] = []
    for i, p in enumerate(payloads, 1):
        lines = deal_lines(p)
        parts.append(f"{i}. " + "\n   ".join(lines))
    if more:
        parts.append(f"… and {more} more (see the dashboard)")
    return Message(title, "\n\n".join([*parts, f"id: {mid}"]), mid)


def health_message(p: Mapping[str, Any], mid: str) -> Message:
    event = p.get("event")
    head = {"fired": "PROBLEM", "repeat": "STILL", "resolved": "RESOLVED"}.get(str(event), "")
    title = f"{PREFIX} {head}: {p.get('title')}"
    if event == "resolved":
        lines = [f"Resolved: {p.get('title')}.", f"It held since {p.get('since')} "
                 f"until {p.get('at')}.", f"It was: {p.get('summary')}"]
    else:
        lines = [f"What is wrong: {p.get('summary')}", f"Since: {p.get('since')}"]
        evidence = p.get("evidence") or {}
        if evidence:
            lines.append("Evidence: " + "; ".join(f"{k}={v}" for k, v in evidence.items()))
        if p.get("fix"):
            lines.append(f"Fix: {p.get('fix')}")
        lines.append(f"Check: {p.get('check')}")
    return Message(title, "\n".join([*lines, "", f"id: {mid}"]), mid)


def plain_message(p: Mapping[str, Any], mid: str) -> Message:
    return Message(str(p.get("title") or PREFIX), f"{p.get('body') or ''}\n\nid: {mid}", mid)


def render(kind: str, p: Mapping[str, Any], mid: str) -> Message:
    if kind == "deal":
        return deal_message(p, mid)
    if kind == "health":
        return health_message(p, mid)
    return plain_message(p, mid)


__all__ = ["Message", "deal_message", "digest_message", "health_message", "render"]
