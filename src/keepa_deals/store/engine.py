"""Engines for the deal store: the embedded SQLite file or PostgreSQL.

``DATABASE_URL`` may be ``postgresql://``, ``postgres://`` or
``postgresql+psycopg://`` (all run on psycopg 3), or ``sqlite:///path``.
Unset, the store is a SQLite file under the data directory, created on demand.

SQLite connections are set up on connect: WAL journal, a busy timeout,
foreign keys on, ``synchronous=NORMAL``, a 64 MiB page cache, reads through a
memory map, and a checkpoint every 10,000 WAL pages (see the constants below and
docs/store.md, "Cost per deal as the store grows").  Transactions are real SQLite
transactions (``BEGIN`` is issued by us, not guessed by the driver), and a
connection whose execution option ``sqlite_begin`` is ``"IMMEDIATE"`` takes
the write lock up front, so a read-then-write transaction never fails with
"database is locked" halfway through.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import StaticPool

from keepa_deals.errors import ConfigError
from keepa_deals.settings import Settings
from keepa_deals.sqlite_wal import switch_to_wal
from keepa_deals.store.errors import DatabaseUnavailable, StoreError

SQLITE_BUSY_TIMEOUT_MS = 15_000
#: Page cache per SQLite connection, KiB (SQLite's default is 2 MiB).  Every saved deal
#: touches a leaf page of each of the deal table's indexes, at a random place in most;
#: once the table outgrows the cache, each touch is a read from the file, and a page
#: written but evicted is read again before its commit.
SQLITE_CACHE_KIB = 65_536
#: Reads of the file through a memory map, bytes: a page the cache misses is mapped
#: from the operating system's cache instead of copied by a read call.
SQLITE_MMAP_BYTES = 1 << 30
#: WAL pages written before a commit checkpoints them into the database file (SQLite's
#: default is 1,000).  A page of saved deals dirties about a thousand pages once the
#: table is large (the indexes' leaves), so at the default nearly every commit
#: checkpointed, with its syncs, and copied the pages every commit rewrites (the
#: indexes' inner pages, the table's last page) again each time.  The WAL file grows
#: to about this many pages (40 MiB at 4 KiB) and is reused.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
PG_CONNECT_TIMEOUT_S = 10
#: A pooled PostgreSQL connection idle this long is pinged before it is used.
PG_PING_AFTER_IDLE_S = 5.0

#: Bytes of a TEXT value to str: a C call, as cheap as the driver's default.
_TEXT_WITH_REPLACEMENT = functools.partial(str, encoding="utf-8", errors="replace")

_PG_PREFIXES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def parse_database_url(raw: str) -> URL:
    """The SQLAlchemy URL for a ``DATABASE_URL``; ConfigError when it is unusable."""
    text = raw.strip()
    for prefix in _PG_PREFIXES:
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix):]
            break
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {_scrub(text)} ({exc})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url.set(drivername="sqlite")
    if backend == "postgresql" and driver == "psycopg":
        if not url.host and not url.query.get("host"):
            raise ConfigError(f"DATABASE_URL has no host: {display_url(url)}")
        if not url.database:
            raise ConfigError(f"DATABASE_URL names no database: {display_url(url)}")
        return url
    raise ConfigError(
        f"DATABASE_URL must be postgresql://… (psycopg 3) or sqlite:///…, not "
        f"{url.drivername}:// ({display_url(url)})"
    )


def display_url(url: URL | str) -> str:
    """A URL safe to print: the password is hidden."""
    if isinstance(url, str):
        text = url
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            return _scrub(text)
    return url.render_as_string(hide_password=True)


def _scrub(text: str) -> str:
    """Hide a ``user:password@`` part in a string that is not a parsable URL."""
    head, sep, tail = text.partition("://")
    if sep and "@" in tail:
        creds, _, rest = tail.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{head}://{user}:***@{rest}"
    return text


def database_url(settings: Settings) -> URL:
    """The URL the store uses for these settings (``DATABASE_URL`` or the SQLite file)."""
    return parse_database_url(settings.effective_database_url())


def create_store_engine(url: URL | str, *, echo: bool = False) -> Engine:
    """An engine for ``url``, configured for the store's needs."""
    if isinstance(url, str):
        url = parse_database_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return _postgres_engine(url, echo=echo)


def engine_from_settings(settings: Settings, *, echo: bool = False) -> Engine:
    return create_store_engine(database_url(settings), echo=echo)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or every checkout would see a new empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the directory for the SQLite database {path}: {exc}",
                transient=False) from None
        url = url.set(database=str(path))
        kwargs.update(connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: we issue BEGIN ourselves (see _on_begin).
        dbapi_conn.isolation_level = None
        # Invalid UTF-8 in a text column reads with replacement characters instead of
        # failing the whole fetch (docs/failure-classes.md, "Corrupt rows").
        dbapi_conn.text_factory = _TEXT_WITH_REPLACEMENT
        cur = dbapi_conn.cursor()
        try:
            if not in_memory:
                switch_to_wal(cur.execute, SQLITE_BUSY_TIMEOUT_MS / 1000)
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            if not in_memory:
                cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
                cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def _postgres_engine(url: URL, *, echo: bool) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    engine = create_engine(url, echo=echo, connect_args=connect_args)

    # A pooled connection is pinged before use when it has been idle a while (a server
    # restart or an idle timeout may have closed it); one used moments ago is not: an
    # ingest run commits every few milliseconds, and a ping per commit is a round trip
    # per commit.  A connection that dies anyway fails its statement as a disconnect,
    # which invalidates the pool, and the next run starts on fresh connections.
    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_conn: Any, record: Any) -> None:
        record.info["fresh"] = True  # just opened: its first checkout needs no ping

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop("fresh", False):
            return
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < PG_PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool replaces it and retries
            raise DisconnectionError(f"the pooled connection is closed: {exc}") from exc

    return engine


@contextmanager
def translate_errors(url: URL | str | None = None) -> Iterator[None]:
    """Turn SQLAlchemy's and the drivers' exceptions into the store's own."""
    try:
        yield
    except DBAPIError as exc:
        where = f" ({display_url(url)})" if url is not None else ""
        if _is_unavailable(exc):
            raise DatabaseUnavailable(f"database unavailable{where}: {_first_line(exc)}",
                                      transient=_is_transient(exc)) from exc
        raise StoreError(f"database error{where}: {_first_line(exc)}") from exc
    except DisconnectionError as exc:  # the pool could not hand out a live connection
        where = f" ({display_url(url)})" if url is not None else ""
        raise DatabaseUnavailable(f"database unavailable{where}: {exc}") from exc


_SQLITE_UNAVAILABLE = (
    "unable to open", "database is locked", "disk i/o", "readonly", "disk is full"
)
#: Of those, the one that passes: another writer holds the lock.
_SQLITE_TRANSIENT = ("database is locked",)
#: PostgreSQL's SQLSTATEs worth waiting out: a connection failure (08…), the server shutting
#: down or starting (57P01-57P03), too many connections, a serialization failure, a deadlock.
_PG_TRANSIENT = ("57P01", "57P02", "57P03", "53300", "40001", "40P01")


def _sqlite_text(exc: DBAPIError) -> str | None:
    """SQLite's message, lower-cased (it has no error codes to go by); None for other drivers."""
    return str(exc.orig).lower() if type(exc.orig).__module__.startswith("sqlite3") else None


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    text = _sqlite_text(exc)
    return text is None or any(marker in text for marker in _SQLITE_UNAVAILABLE)


def _is_transient(exc: DBAPIError) -> bool:
    """Whether the unavailable database may answer if asked again a little later."""
    if exc.connection_invalidated:
        return True
    text = _sqlite_text(exc)
    if text is not None:
        return any(marker in text for marker in _SQLITE_TRANSIENT)
    state = getattr(exc.orig, "sqlstate", None)
    # no SQLSTATE: the connection itself failed (refused, timed out, not accepting yet)
    return state is None or state.startswith("08") or state in _PG_TRANSIENT


def _first_line(exc: DBAPIError) -> str:
    orig = exc.orig if exc.orig is not None else exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
