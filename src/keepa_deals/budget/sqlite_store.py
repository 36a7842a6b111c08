"""The SQLite store: the shared token budget for the processes of one machine.

Each step is one ``BEGIN IMMEDIATE`` transaction: it takes the file's write
lock, reads the clock, loads the fields and leases, runs the pure core and
writes the changes back, so steps of different processes never interleave.
Values are stored as the same strings the core parses (and the Redis store
holds), so a corrupted value behaves identically in every store.

::

    budget_fields(name TEXT PRIMARY KEY, value TEXT)   -- core.FIELDS
    budget_leases(id TEXT PRIMARY KEY, value TEXT)     -- "<cost_mt>:<expires_ms>"
    budget_marker(name TEXT PRIMARY KEY, value TEXT)   -- one row, "marker" (budget.state)

The marker has a table of its own so that rows deleted from the other two
(by hand, by a tool) show as a state loss rather than a first start.

The file runs in WAL mode with ``synchronous=NORMAL``: a power cut may lose the
last few steps, which only makes the state older (an older anchor, a lease
gone early); the core treats old state as unknown and asks Keepa.

Every thread and every process (after a fork) gets its own connection.

Failures reach callers as :class:`BudgetStoreUnavailable`:

* the file stays locked longer than the busy timeout;
* the file or its directory cannot be opened or written;
* the file is not an SQLite database or is damaged.  It is then renamed aside
  (``<file>.corrupt-<epoch ms>-<pid>``, with its ``-wal`` and ``-shm``) and
  recreated empty, which is logged; the step's caller sees the error once, and
  the next step finds no state and asks Keepa.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from keepa_deals.budget import core
from keepa_deals.budget.core import Changes, Decision, Policy, Snapshot, State
from keepa_deals.budget.store import MappingStoreBase
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.sqlite_wal import switch_to_wal
from keepa_deals.tokens.errors import BudgetStoreUnavailable
from keepa_deals.tokens.status import TokenStatus

log = logging.getLogger("keepa_deals.budget")
T = TypeVar("T")

#: The file's name under ``settings.data_dir`` (the deal database is a separate file).
FILENAME = "budget.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS budget_fields (name TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS budget_leases (id TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS budget_marker (name TEXT PRIMARY KEY, value TEXT)",
)
_MARKER = "marker"

# Primary SQLite result codes (the low byte of ``sqlite_errorcode``).
_BUSY, _LOCKED, _CORRUPT, _NOTADB = 5, 6, 11, 26

#: Connections inherited through fork(): never used or closed in the child
#: (closing one would drop the parent's POSIX locks), only kept from the GC.
_INHERITED: list[sqlite3.Connection] = []


def default_path(data_dir: Path | str, fingerprint: str) -> Path:
    """The budget of one API key (named by its fingerprint, never the key) in ``data_dir``."""
    return Path(data_dir) / f"budget-{fingerprint}.sqlite3"


def _decode(raw: bytes) -> str:
    # A value that is not UTF-8 is garbage the core rejects, not a crash.
    return raw.decode("utf-8", "replace")


@dataclass
class _Conn:
    conn: sqlite3.Connection
    pid: int
    thread: int
    inode: tuple[int, int]
    generation: int


class _Stale(Exception):
    """The file was replaced (renamed aside, deleted) under an open connection."""


class SqliteStore(MappingStoreBase):
    """The budget in an SQLite file, safe across the processes of one machine."""

    kind = "sqlite"

    def __init__(self, path: Path | str, *, clock: Clock = SYSTEM_CLOCK,
                 busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[_Conn] = []
        self._conns_lock = threading.Lock()
        self._generation = 0  # bumped by close(): every thread then reconnects

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- the BudgetStore steps ----------------------------------------------

    def acquire(self, lease_id: str, cost_mt: int, policy: Policy) -> Decision:
        return self._step(policy, lambda st, now: core.acquire(st, lease_id, cost_mt, now, policy))

    def settle(self, lease_id: str, cost_mt: int, status: TokenStatus | None,
               policy: Policy) -> None:
        self._step(policy, lambda st, now: (None, core.settle(st, lease_id, cost_mt, status, now)))

    def settle_acquire(self, settled: tuple[str, int, TokenStatus | None], lease_id: str,
                       cost_mt: int, policy: Policy) -> Decision:
        def txn(db: sqlite3.Connection) -> Decision:
            now = self.clock.now_ms()
            fields, leases = self._read(db)
            d, ch = core.settle_acquire(fields, leases, settled, lease_id, cost_mt, now, policy,
                                        self._marker(db))
            self._write(db, ch)
            return d

        return self._run(txn, write=True)

    def observe(self, status: TokenStatus, policy: Policy, *, authoritative: bool = False) -> None:
        self._step(policy, lambda st, now: (
            None, core.observe(st, status, now, authoritative=authoritative)))

    def claim_sync(self, policy: Policy) -> bool:
        return self._step(policy, lambda st, now: core.claim_sync(st, now, policy))

    def snapshot(self, policy: Policy) -> Snapshot:
        def read(db: sqlite3.Connection) -> Snapshot:
            now = self.clock.now_ms()
            fields, leases = self._read(db)
            return core.snapshot(core.parse(fields, leases, now, policy, self._marker(db)), now)

        return self._run(read, write=False)

    def raw(self) -> tuple[dict[str, str], dict[str, str]]:
        return self._run(self._read, write=False)

    def write_raw(self, fields: dict[str, str | None], leases: dict[str, str | None]) -> None:
        def write(db: sqlite3.Connection) -> None:
            for table, key, updates in (("budget_fields", "name", fields),
                                        ("budget_leases", "id", leases)):
                for k, v in updates.items():
                    if v is None:
                        db.execute(f"DELETE FROM {table} WHERE {key} = ?", (k,))
                    else:
                        db.execute(f"INSERT INTO {table} ({key}, value) VALUES (?, ?) "
                                   f"ON CONFLICT({key}) DO UPDATE SET value = excluded.value",
                                   (k, v))

        self._run(write, write=True)

    def raw_marker(self) -> str | None:
        return self._run(self._marker, write=False)

    def write_marker(self, value: str | None) -> None:
        self._run(lambda db: self._set_marker(db, value), write=True)

    def clear(self) -> None:
        def wipe(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM budget_fields")
            db.execute("DELETE FROM budget_leases")
            db.execute("DELETE FROM budget_marker")

        self._run(wipe, write=True)

    def close(self) -> None:
        """Close this process's connections (every thread's)."""
        pid = os.getpid()
        with self._conns_lock:
            mine = [c for c in self._conns if c.pid == pid]
            self._conns = [c for c in self._conns if c.pid != pid]
        self._generation += 1
        for c in mine:
            c.conn.close()

    # -- one step: load, run the core, write back ---------------------------

    def _step(self, policy: Policy, step: Callable[[State, int], tuple[T, Changes]]) -> T:
        def txn(db: sqlite3.Connection) -> T:
            now = self.clock.now_ms()  # read under the lock: steps see time in order
            fields, leases = self._read(db)
            result, ch = step(core.parse(fields, leases, now, policy, self._marker(db)), now)
            self._write(db, ch)
            return result

        return self._run(txn, write=True)

    @staticmethod
    def _read(db: sqlite3.Connection) -> tuple[dict[str, str], dict[str, str]]:
        fields = dict(db.execute("SELECT name, value FROM budget_fields").fetchall())
        leases = dict(db.execute("SELECT id, value FROM budget_leases").fetchall())
        return fields, leases

    @staticmethod
    def _marker(db: sqlite3.Connection) -> str | None:
        row = db.execute("SELECT value FROM budget_marker WHERE name = ?", (_MARKER,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_marker(db: sqlite3.Connection, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM budget_marker WHERE name = ?", (_MARKER,))
        else:
            db.execute("INSERT INTO budget_marker (name, value) VALUES (?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (_MARKER, value))

    @classmethod
    def _write(cls, db: sqlite3.Connection, ch: Changes) -> None:
        if ch.marker is not None:
            cls._set_marker(db, ch.marker)
        if ch.delete:
            db.executemany("DELETE FROM budget_fields WHERE name = ?", [(n,) for n in ch.delete])
        if ch.set:
            db.executemany(
                "INSERT INTO budget_fields (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(ch.set.items()))
        if ch.remove_leases:
            db.executemany("DELETE FROM budget_leases WHERE id = ?",
                           [(i,) for i in ch.remove_leases])
        if ch.add_leases:
            db.executemany(
                "INSERT INTO budget_leases (id, value) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET value = excluded.value", list(ch.add_leases.items()))

    def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``fn`` in one transaction, turning every SQLite failure into ours."""
        for _ in range(3):
            c: _Conn | None = None
            try:
                c = self._connection()
                with self._transaction(c, write=write):
                    return fn(c.conn)
            except _Stale:
                self._drop(c)
                continue
            except sqlite3.Error as exc:
                raise self._failure(exc) from None
        raise BudgetStoreUnavailable(
            f"the token budget file {self.path} keeps being replaced under this process")

    @contextmanager
    def _transaction(self, c: _Conn, *, write: bool) -> Iterator[None]:
        db = c.conn
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            if self._inode() != c.inode:
                raise _Stale()
            yield
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise
        db.commit()

    # -- connections ----------------------------------------------------------

    def _connection(self) -> _Conn:
        c: _Conn | None = getattr(self._local, "conn", None)
        pid = os.getpid()
        if c is not None and c.pid == pid and c.generation == self._generation:
            return c
        if c is not None and c.pid != pid:  # inherited through fork()
            _INHERITED.append(c.conn)
            with self._conns_lock:
                self._conns = [x for x in self._conns if x.pid == pid]
        c = self._open()
        self._local.conn = c
        return c

    def _open(self) -> _Conn:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BudgetStoreUnavailable(
                f"cannot create the directory of the token budget file {self.path}: "
                f"{exc.strerror or exc}") from None
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        try:
            db.text_factory = _decode
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            switch_to_wal(db.execute, self.busy_timeout_s)  # new files: a race
            db.execute("PRAGMA synchronous = NORMAL")
            for stmt in _SCHEMA:
                db.execute(stmt)
            inode = self._inode()
        except _Stale:
            db.close()
            raise BudgetStoreUnavailable(
                f"the token budget file {self.path} vanished while being opened") from None
        except sqlite3.Error as exc:
            db.close()
            raise self._failure(exc) from None
        except BaseException:
            db.close()
            raise
        c = _Conn(db, os.getpid(), threading.get_ident(), inode, self._generation)
        self._register(c)
        return c

    def _register(self, c: _Conn) -> None:
        alive = {t.ident for t in threading.enumerate()}
        with self._conns_lock:
            dead = [x for x in self._conns if x.pid == c.pid and x.thread not in alive]
            self._conns = [x for x in self._conns if x not in dead] + [c]
        for x in dead:  # connections of threads that have ended
            x.conn.close()

    def _drop(self, c: _Conn | None) -> None:
        if c is None:
            return
        handle = c.conn
        with self._conns_lock:
            self._conns = [x for x in self._conns if x is not c]
        if getattr(self._local, "conn", None) is c:
            self._local.conn = None
        try:
            handle.close()
        except sqlite3.Error:  # pragma: no cover - closing a broken handle
            pass

    def _inode(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise _Stale() from None
        except OSError as exc:
            raise BudgetStoreUnavailable(
                f"cannot use the token budget file {self.path}: {exc.strerror or exc}") from None
        return st.st_dev, st.st_ino

    # -- failures -------------------------------------------------------------

    def _failure(self, exc: sqlite3.Error) -> BudgetStoreUnavailable:
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (_BUSY, _LOCKED):
            return BudgetStoreUnavailable(
                f"the token budget file {self.path} is locked by another process "
                f"(waited {self.busy_timeout_s:g} s)")
        if code in (_CORRUPT, _NOTADB):
            return BudgetStoreUnavailable(self._quarantine(str(exc)))
        return BudgetStoreUnavailable(f"cannot use the token budget file {self.path}: {exc}")

    def _quarantine(self, why: str) -> str:
        """Move a damaged file aside and start an empty one; returns the message."""
        c: _Conn | None = getattr(self._local, "conn", None)
        try:
            current = self._inode()
        except _Stale:
            current = None
        if c is not None and c.pid == os.getpid():
            self._drop(c)
            if current is not None and current != c.inode:
                # Another process already moved it aside: just reconnect next time.
                return (f"the token budget file {self.path} was damaged ({why}) and has "
                        "already been replaced; the next attempt asks Keepa")
        aside = self.path.with_name(
            f"{self.path.name}.corrupt-{time.time_ns() // 1_000_000}-{os.getpid()}")
        try:
            for suffix in ("-wal", "-shm", ""):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, Path(f"{aside}{suffix}"))
        except OSError as exc:
            return (f"the token budget file {self.path} is damaged ({why}) and could not be "
                    f"moved aside: {exc.strerror or exc}")
        log.error("the token budget file %s was damaged (%s): moved it to %s and started an "
                  "empty one; the next step asks Keepa for the balance", self.path, why, aside)
        return (f"the token budget file {self.path} was damaged ({why}); moved it to {aside.name} "
                "and started an empty one: the next attempt asks Keepa")
