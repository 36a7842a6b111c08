"""Sending one message to one Apprise URL, in bounded time, with nothing secret logged.

Apprise's own log lines may quote a URL whole, so its logger is kept quiet and the
reason of a failure is captured, scrubbed of the URL's secret parts (and the Keepa
key), and only then returned.  Every URL gets connect and read timeouts
(Apprise's ``cto``/``rto``) unless it sets its own; JSON/XML/form webhooks also get
the message id as the ``X-Keepa-Deals-Message-Id`` header.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from keepa_deals.keepa.redact import redact
from keepa_deals.store.destinations import scrub

_HEADER_SCHEMES = ("json", "jsons", "xml", "xmls", "form", "forms")


def _quiet_apprise() -> None:
    """Apprise's lines may quote a URL: they never reach our handlers (LogCapture reads
    them, and the reason is scrubbed before it goes anywhere)."""
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


_quiet_apprise()


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    #: Why not (scrubbed: safe to log and store); None when sent.
    error: str | None = None


def with_options(url: str, *, timeout_s: float, message_id: str | None) -> str:
    text = url.strip()
    params = []
    if "cto=" not in text:
        params.append(f"cto={timeout_s:g}")
    if "rto=" not in text:
        params.append(f"rto={timeout_s:g}")
    scheme = text.split("://", 1)[0].lower()
    if message_id and scheme in _HEADER_SCHEMES:
        params.append(f"+X-Keepa-Deals-Message-Id={message_id}")
    if not params:
        return text
    return text + ("&" if "?" in text else "?") + "&".join(params)


def send(url: str, title: str, body: str, *, timeout_s: float, message_id: str | None = None,
         key: str | None = None) -> Sent:
    """Send one message; never raises for the destination's failure."""
    import apprise

    title, body = redact(title, key), redact(body, key)  # the key never leaves in a message
    target = with_options(url, timeout_s=timeout_s, message_id=message_id)
    notifier = apprise.Apprise()
    if not notifier.add(target):
        return Sent(False, "Apprise does not understand this URL")
    try:
        with apprise.LogCapture(level=logging.WARNING,  # type: ignore[no-untyped-call]
                                fmt="%(message)s") as captured:
            ok = bool(notifier.notify(title=title, body=body))
            lines = captured.getvalue()
    except Exception as exc:  # a plugin's bug must not stop the courier
        ok, lines = False, f"{type(exc).__name__}: {exc}"
    finally:
        _quiet_apprise()
    if ok:
        return Sent(True)
    why = " ".join(str(lines).split())[-300:] or "the destination refused the message"
    return Sent(False, redact(scrub(why, [url, target]), key))


__all__ = ["Sent", "send", "with_options"]
