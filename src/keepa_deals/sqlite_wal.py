"""Switching a SQLite file to WAL, for the deal store and the token budget alike.

Processes opening a new file at once race for the switch, and SQLite answers
the losers "database is locked" at once, without waiting for the busy
timeout: the switch is retried until the winner is done (or the timeout).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any


def switch_to_wal(execute: Callable[[str], Any], timeout_s: float) -> None:
    """Run ``PRAGMA journal_mode=WAL`` through ``execute`` (a cursor's or a connection's),
    retrying while another process holds the lock for its own switch."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        try:
            execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
