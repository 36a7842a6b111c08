"""``run``'s view of a run in progress: a status line on a terminal, plain lines elsewhere.

On a terminal one line is rewritten in place (pages, batches, tokens so far, or the wait
for tokens with its end time) and cleared before the run's own summary line.  Not on a
terminal (a log file, a journal), waits are one line each and batches at most one line
every ``PLAIN_EVERY_S`` seconds, so that a long first run is not silent.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import click

from keepa_deals.cli._app import clock
from keepa_deals.ingest.progress import ProgressEvent

#: Not on a terminal: at most one batch line this often.
PLAIN_EVERY_S = 5.0


def describe(e: ProgressEvent) -> str:
    if e.kind == "wait":
        return f"waiting {e.wait_s:.0f} s for Keepa (until {clock(e.until)})"
    what = (f"{e.query}: {e.pages} page{'s' if e.pages != 1 else ''}, {e.checked} checked, "
            f"+{e.added} new, {e.tokens} tokens")
    if e.kind == "batch":
        what += f" (batch of {e.size}, {e.stage})"
    return what


class ProgressView:
    """The listener ``run`` sets on its environment's progress sink."""

    def __init__(self, out: IO[str] | None = None, *, tty: bool | None = None) -> None:
        self._out = out
        self._tty = tty if tty is not None else _isatty(out)
        self._shown = False
        self._last_plain = 0.0

    @property
    def tty(self) -> bool:
        return self._tty

    def __call__(self, e: ProgressEvent) -> None:
        text = describe(e)
        if self._tty:
            self._raw(f"\r\x1b[K  {text}")
            self._shown = True
            return
        now = time.monotonic()
        if e.kind == "wait" or (e.kind == "batch" and now - self._last_plain >= PLAIN_EVERY_S):
            self._last_plain = now
            click.echo(f"  {text}", file=self._out)

    def clear(self) -> None:
        """Before a line of the run's own: the status line goes."""
        if self._tty and self._shown:
            self._raw("\r\x1b[K")
            self._shown = False

    def _raw(self, text: str) -> None:
        # not click.echo: it drops the escape that clears the line
        stream = self._out if self._out is not None else sys.stdout
        stream.write(text)
        stream.flush()


def _isatty(out: IO[str] | None) -> bool:
    stream: Any = out if out is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
