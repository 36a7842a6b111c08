"""Alert destinations (Apprise URLs) as the store keeps and shows them.

An Apprise URL holds secrets (a webhook token, a bot token, a mail password), so it is
stored once (in a saved search, or in ``KEEPA_DEALS_ALERT_URLS``) and everywhere else
named by its :func:`fingerprint`; it is shown only :func:`masked`, and any text that
may quote it (an error) goes through :func:`scrub` before it is logged or stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

#: A destination is failing once a message to it failed this many times (or was given up).
FAILING_AFTER = 3

_HOSTNAME = re.compile(
    r"^(localhost|[0-9]+(\.[0-9]+){3}|\[[0-9a-f:]+\]|[a-z0-9-]+(\.[a-z0-9-]+)+)$", re.I)


def fingerprint(url: str) -> str:
    """A short, stable name of a destination that reveals nothing of it."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def masked(url: str) -> str:
    """``scheme://host/***`` with the fingerprint: enough to tell destinations apart."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return f"*** (#{fingerprint(text)[:8]})"
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        host = ""
    shown = host if host and _HOSTNAME.match(host) and not rest.startswith("@") else ""
    if not shown and host:
        shown = host[:2] + "…"
    return f"{scheme.lower()}://{shown}/*** (#{fingerprint(text)[:8]})"


def secret_parts(url: str) -> list[str]:
    """The pieces of ``url`` that may be secret: the whole, its user, password, path
    segments, query values (4 characters or more)."""
    text = url.strip()
    parts = {text}
    _, sep, rest = text.partition("://")
    if sep:
        auth, _, _ = rest.partition("@") if "@" in rest.split("/")[0] else ("", "", "")
        for piece in re.split(r"[:/?&=#@+,]", rest):
            if len(piece) >= 4:
                parts.add(piece)
                parts.add(unquote(piece))
        if auth:
            parts.update(p for p in auth.split(":") if len(p) >= 4)
    hostish = {p for p in parts if _HOSTNAME.match(p) and "." in p}
    return sorted((p for p in parts if p not in hostish and len(p) >= 4), key=len, reverse=True)


def all_urls(alert_urls: Iterable[str], searches_urls: Iterable[Iterable[str]]) -> list[str]:
    """Every configured destination: the health alerts' URLs, then each saved search's."""
    return list(alert_urls) + [u for urls in searches_urls for u in urls]


def masked_by_fingerprint(urls: Iterable[str]) -> dict[str, str]:
    """fingerprint → masked URL, to name a destination the store knows by its fingerprint."""
    return {fingerprint(u): masked(u) for u in urls}


def scrub(text: str, urls: Iterable[str]) -> str:
    """``text`` with every secret-looking piece of each of ``urls`` replaced by ``***``."""
    out = text
    for url in urls:
        for part in secret_parts(url):
            out = out.replace(part, "***")
    return out


def split_urls(text: str | None) -> list[str]:
    """Destinations written one a line or separated by commas (empty pieces dropped)."""
    if not text:
        return []
    return [p.strip() for p in re.split(r"[,\n]", text) if p.strip()]


def problem(url: str) -> str | None:
    """Why Apprise cannot use ``url`` (None: it can).  Never quotes the URL."""
    import apprise

    text = url.strip()
    if "://" not in text:
        return "an Apprise URL looks like scheme://… (json://host/path, mailto://…, discord://…)"
    if apprise.Apprise.instantiate(text) is None:
        scheme = text.split("://", 1)[0].lower()
        return f"Apprise does not understand this {scheme}:// URL"
    return None


__all__ = ["fingerprint", "masked", "problem", "scrub", "secret_parts", "split_urls"]
