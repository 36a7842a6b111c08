"""Real services for the tests: a throwaway redis-server, and PostgreSQL.

Redis: ``REDIS_URL`` when set (its database is flushed between tests), else a
redis-server of our own on a free port.  Tests that restart or flush the whole
server always get a server of their own.

PostgreSQL: ``KEEPA_DEALS_TEST_DATABASE_URL``, else a ``postgresql://`` or
``postgres://`` ``DATABASE_URL``, else the local server on 127.0.0.1:5432. A
fresh database is created for the session.  When none is reachable, the tests
that need it are skipped, unless ``KEEPA_DEALS_REQUIRE_POSTGRES=1`` (CI), in
which case they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server process we own; it can be stopped and started again."""

    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kd-redis-")))
    proc: subprocess.Popen[bytes] | None = None
    #: more redis-server options, e.g. ("--rename-command", "FCALL", "") for a Redis without FCALL
    options: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (scripts/test installs it)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no", *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def postgres_admin_url() -> str | None:
    url = os.environ.get("KEEPA_DEALS_TEST_DATABASE_URL")
    if not url:
        db = os.environ.get("DATABASE_URL", "")
        if db.startswith(("postgresql", "postgres:")):
            url = db
    return url or "postgresql://postgres@127.0.0.1:5432/postgres"


def to_sqlalchemy(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_postgres_database() -> tuple[str, str] | None:
    """Create a fresh database; returns (its URL, the admin URL) or None if unreachable."""
    import psycopg

    admin = postgres_admin_url()
    assert admin is not None
    plain = admin.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None
    name = f"keepa_deals_test_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = plain.rpartition("/")
    return f"{base}/{name}", plain


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; the test is skipped when no server
    is reachable, or fails when ``KEEPA_DEALS_REQUIRE_POSTGRES=1`` (CI)."""
    import pytest

    created = create_postgres_database()
    if created is None:
        if os.environ.get("KEEPA_DEALS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (KEEPA_DEALS_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("no PostgreSQL server reachable")
    url, admin = created
    try:
        yield url
    finally:
        drop_postgres_database(url, admin)


def drop_postgres_database(url: str, admin: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
