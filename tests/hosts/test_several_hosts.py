"""Celery mode across hosts: Keepa, Redis, PostgreSQL, beat and two workers, each a host of
its own (a network namespace), while the network and the servers fail under load.

What happens, in order, while the workers buy offers from a sandbox Keepa whose replies take
0.3–1.5 s and whose budget is scarce (every call waits for tokens):

1. worker ``w1`` is cut off from Redis (packets dropped, not refused) for 12 s, mid-batch;
2. worker ``w2`` runs all along with its clock 90 s ahead (libfaketime);
3. Redis (append-only) is restarted;
4. PostgreSQL is restarted (fast shutdown), while batches are being saved.

Then, once the network has healed and the servers are back, the test checks, against Keepa's
own records (the sandbox's account and its log of charged calls):

* the real balance never went below the budget's floor;
* no batch paid for was lost: as many batches were saved (each worker logs a batch once its
  transaction committed) as Keepa charged product calls;
* nothing was bought twice: no ASIN was charged twice for the same kind of call;
* no wedge: deals are bought and stored after the last fault.

It needs root, iproute2, PostgreSQL's server binaries, redis-server and libfaketime; where a
namespace cannot be made it says why and skips (``scripts/test`` installs what it can).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keepa_deals.sandbox import DEMO_KEY, fingerprint
from tests.hosts._netns import Host, Network, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SAVED = re.compile(r"batch [0-9a-f]{16} \((stats|offers|refresh), \d+ ASINs\): \+\d+ new.* tokens")
FLOOR = -40
RATE = 120  # tokens a minute: scarce, so the budget decides every call
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1")


def _initdb() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return found[-1] if found else None


def _faketime() -> str | None:
    return next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)


def _missing() -> str | None:
    why = unavailable()
    if why:
        return why
    if _initdb() is None:
        return "PostgreSQL's server binaries (initdb) are not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if _faketime() is None:
        return "libfaketime is not installed (apt-get install faketime)"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user to run a PostgreSQL server as"
    pytest.importorskip("celery")
    return None


def _wait(what: str, check: Any, timeout: float, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - a server still starting
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEEPA_", "REDIS_URL", "DATABASE_URL", "LD_PRELOAD", "FAKETIME"))}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(settings)
    return env


class Postgres:
    """A PostgreSQL server of its own on ``host`` (its data in a directory the postgres user
    owns), stopped and started again like a real one."""

    def __init__(self, host: Host, logs: Path) -> None:
        self.host, self.logs = host, logs
        self.dir = Path(tempfile.mkdtemp(prefix="kd-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        bindir = Path(_initdb() or "").parent
        self.postgres = str(bindir / "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--", str(bindir / "initdb"), "-D",
                        str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        with open(self.dir / "data" / "pg_hba.conf", "a") as hba:
            hba.write("host all all 0.0.0.0/0 trust\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host.address}:5432/postgres"

    def start(self) -> None:
        self.proc = self.host.start(
            [self.postgres, "-D", str(self.dir / "data"), "-c",
             f"listen_addresses={self.host.address}", "-c", "port=5432", "-c",
             f"unix_socket_directories={self.dir}", "-c", "fsync=off", "-c",
             "max_connections=60"], env=_env(), log=self.logs / "postgres.log", user="postgres")
        _wait("PostgreSQL", self.ready, timeout=60)

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def restart(self) -> None:
        """A fast shutdown (open sessions are ended, as a restart under load does), then up."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)  # runuser and the postmaster: a fast shutdown
        self.proc.wait(60)
        self.start()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=5) as conn:
            return list(conn.execute(sql).fetchall())

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self, host: Host, logs: Path) -> None:
        self.host, self.logs = host, logs
        self.dir = Path(tempfile.mkdtemp(prefix="kd-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host.address}:6379/0"

    def start(self) -> None:
        self.proc = self.host.start(
            [shutil.which("redis-server") or "redis-server", "--bind", self.host.address,
             "--port", "6379", "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--protected-mode", "no", "--dir", str(self.dir)], env=_env(), log=self.logs / "redis.log")
        import redis

        _wait("Redis", lambda: redis.Redis.from_url(self.url, socket_timeout=2).ping(), 30)

    def restart(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits; then up again on it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.start()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def network() -> Iterator[Network]:
    why = _missing()
    if why:
        pytest.skip(f"several hosts cannot be made here: {why}")
    net = Network()
    try:
        yield net
    finally:
        net.close()


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """A warm shutdown (a worker finishes the batch it holds), then SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)  # the main process: it lets its pool finish
            proc.wait(timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_floor_held_nothing_lost_or_bought_twice_no_wedge_across_hosts(
        network: Network, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    keepa_host, redis_host, pg_host = (network.host(n) for n in ("keepa", "redis", "pg"))
    w1, w2, beat_host = (network.host(n) for n in ("w1", "w2", "beat"))

    # Keepa: the sandbox, on a host of its own
    keepa_host.start([sys.executable, "-m", "keepa_deals", "sandbox", "--host",
                      keepa_host.address, "--port", "8080", "--rate", str(RATE), "--tokens",
                      "150", "--seed", "0", "--event-interval", "10", "--backlog", "14400"],
                     env=_env(), log=logs / "sandbox.log")
    keepa_url = f"http://{keepa_host.address}:8080"
    admin = httpx.Client(base_url=keepa_url, timeout=10)
    _wait("the sandbox", lambda: admin.get("/_sandbox/state").status_code == 200, 60)
    admin.put("/_sandbox/faults", json={"latency_ms": [300, 1500],
                                        "endpoints": ["product"]}).raise_for_status()
    fp = fingerprint(DEMO_KEY)

    redis_srv = Redis(redis_host, logs)
    pg = Postgres(pg_host, logs)
    try:
        redis_srv.start()
        pg.start()
        builtin = Path(__file__).resolve().parents[2] / "src/keepa_deals/query/builtin"
        query = tmp_path / "offers.toml"  # the built-in query, paying for live offers
        query.write_text((builtin / "used-books-us.toml").read_text().replace(
            "fetch_offers = false", "fetch_offers = true"))
        settings = {"KEEPA_DEALS_QUERIES": str(query), "REDIS_URL": redis_srv.url, "DATABASE_URL": pg.url,
                    "KEEPA_API_URL": keepa_url, "KEEPA_API_KEY": DEMO_KEY,
                    "KEEPA_DEALS_BUDGET_FLOOR": str(FLOOR),
                    "KEEPA_DEALS_INGEST_INTERVAL_S": "4",
                    "KEEPA_DEALS_CELERY_CLAIM_TTL_S": "20",
                    "KEEPA_DEALS_INGEST_LOCK_TTL_S": "30",
                    "KEEPA_DEALS_CELERY_MAX_BATCH": "10",
                    "XDG_DATA_HOME": str(tmp_path / "xdg")}
        subprocess.run(beat_host.command([sys.executable, "-m", "keepa_deals", "db", "upgrade"]),
                       env=_env(**settings), check=True, capture_output=True, timeout=120)
        beat = beat_host.start([sys.executable, "-m", "keepa_deals", "beat"],
                               env=_env(**settings), log=logs / "beat.log", cwd=tmp_path)
        worker = [sys.executable, "-m", "celery", "-A", "keepa_deals.celery_app", "worker",
                  "--concurrency", "2", "--loglevel", "INFO", "--without-gossip",
                  "--without-mingle", "--without-heartbeat"]
        skewed = _env(**settings, LD_PRELOAD=_faketime() or "", FAKETIME="+90s")
        specs = {"w1": (w1, _env(**settings)), "w2": (w2, skewed)}
        workers: dict[str, subprocess.Popen[bytes]] = {}
        restarts: Counter[str] = Counter()

        def supervise() -> None:
            """What systemd's Restart=always does (deploy/systemd): a worker that exited is
            started again (Celery's worker may exit when its broker restarts)."""
            for name, (host, env) in specs.items():
                proc = workers.get(name)
                if proc is not None and proc.poll() is None:
                    continue
                if proc is not None:
                    restarts[name] += 1
                workers[name] = host.start([*worker, "--hostname", f"{name}@%h"], env=env,
                                           log=logs / f"{name}.log", cwd=tmp_path)

        def supervised(check: Any) -> Any:
            def run() -> Any:
                supervise()
                return check()
            return run

        supervise()

        def purchases() -> list[dict[str, Any]]:
            reply = admin.get(f"/_sandbox/accounts/{fp}/purchases")
            reply.raise_for_status()
            found: list[dict[str, Any]] = reply.json()["purchases"]
            return found

        def offers_bought() -> int:
            return sum(1 for p in purchases() if p["offers"])

        def saved_batches() -> list[str]:
            """A batch's line "batch <id> (<kind>, N ASINs): +a new, ... T tokens" is logged
            once its one transaction committed: what was paid for and saved."""
            return [line for name in specs for line in
                    (logs / f"{name}.log").read_text(errors="replace").splitlines()
                    if SAVED.search(line)]

        def deals() -> int:
            return int(pg.query("SELECT count(*) FROM deals")[0][0])

        began = time.monotonic()
        _wait("offers bought and deals stored",
              supervised(lambda: offers_bought() > 0 and deals() > 0), 150)

        first_deals_s = time.monotonic() - began
        # 1. w1 cut off from Redis mid-batch
        w1.cut_off(redis_host)
        time.sleep(8)
        w1.heal(redis_host)
        supervise()
        # 3. Redis restarted on its append-only file
        redis_srv.restart()
        time.sleep(4)
        supervise()
        # 4. PostgreSQL restarted while batches are saved
        pg.restart()
        after_faults = (len(purchases()), len(saved_batches()))

        # no wedge: batches bought and saved after the last fault (within the lock's lifetime
        # of a runner that died with its worker, and a refill)
        _wait("batches bought and saved after the faults", supervised(
            lambda: len(purchases()) > after_faults[0]
            and len(saved_batches()) > after_faults[1]), 120)

        recovered_s = time.monotonic() - began - first_deals_s
        for proc in (beat, *workers.values()):
            _stop(proc)

        account = admin.get(f"/_sandbox/accounts/{fp}").json()
        bought = purchases()
        saved = saved_batches()
        twice = {k: n for k, n in Counter((a, p["offers"]) for p in bought
                                          for a in p["asins"]).items() if n > 1}
        figures = {"lowest_balance": account["counters"]["min_balance"], "floor": FLOOR,
                   "calls_paid": len(bought), "batches_saved": len(saved),
                   "offers_calls_paid": sum(1 for p in bought if p["offers"]),
                   "deals_stored": deals(), "tokens_consumed":
                       account["counters"]["tokens_consumed"], "worker_restarts": dict(restarts),
                   "first_deals_s": round(first_deals_s), "faults_to_recovery_s": round(recovered_s)}
        print("several hosts:", json.dumps(figures))
        (tmp_path / "figures.json").write_text(json.dumps(figures))

        assert account["counters"]["min_balance"] >= FLOOR, figures
        assert len(saved) == len(bought), f"paid for and not saved ({figures})"
        assert not twice, f"bought twice: {dict(list(twice.items())[:5])} ({figures})"
    finally:
        admin.close()
        redis_srv.remove()
        pg.remove()
