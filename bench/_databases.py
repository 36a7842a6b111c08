"""Scratch databases for the benchmarks: a temporary SQLite file, or a PostgreSQL
database created for the run and dropped after it.

PostgreSQL: ``KEEPA_DEALS_BENCH_PG_URL``, else a ``postgres`` ``DATABASE_URL``,
else postgresql://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="kd-bench-") as d:
        yield f"sqlite:///{d}/bench.sqlite3"


@contextmanager
def postgres_url() -> Iterator[str | None]:
    import psycopg

    admin = os.environ.get("KEEPA_DEALS_BENCH_PG_URL") or (
        os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith(
            ("postgres://", "postgresql")) else ""
    ) or "postgresql://postgres@127.0.0.1:5432/postgres"
    admin = admin.replace("postgresql+psycopg://", "postgresql://")
    name = f"keepa_deals_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"postgresql: skipped ({str(exc).splitlines()[0]})", file=sys.stderr)
        yield None
        return
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS: dict[str, Callable[[], AbstractContextManager[str | None]]] = {
    "sqlite": sqlite_url, "postgresql": postgres_url,
}
