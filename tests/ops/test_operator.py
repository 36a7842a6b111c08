"""The operator's view, tried as a new user would: settings honoured, exit codes, clear errors.

Invariants defended (docs/failure-classes.md, FC-18):

* every bad input a user can type (a setting, a command line, a busy port) gives
  exactly one line on stderr, ``error: ...``, naming what to fix; exit 2; never a
  traceback, never a secret (the key, the web token, a password in a URL), not
  even the rejected value of one (:data:`BAD_INPUTS` is the table);
* a malformed key is refused at once, before any network;
* ``KEEPA_DEALS_QUERIES`` means the same for ``ingest --once``, ``run`` and
  ``settings``, which shows effective values and where each came from;
* ``run --for`` exits 2 when every run failed; health and doctor then say why
  (a refused key), never "healthy: starting";
* ``health --serve``'s ``/metrics`` shows the balance the shared budget holds;
* ``keepa-deals beat`` starts on a fresh host (an empty ``XDG_DATA_HOME``),
  keeps one schedule file per deployment, replaces a corrupt one with a
  warning, and sends the first ingest tick at once: three workers store deals
  within two minutes of a fresh start.

Everything runs as a subprocess (``python -m keepa_deals``), as a user runs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import Sandbox
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunCounts
from tests._services import free_port
from tests.ops.conftest import KEY

ROOT = Path(__file__).resolve().parents[2]
#: Secrets the table's settings carry; none may ever be printed.
WEB_TOKEN = "shortsecret"  # 11 characters: rejected, and must not be echoed back
DB_PASSWORD = "hunter2dbpassword"
REDIS_PASSWORD = "redispassw0rdsecret"
#: A well-formed key the sandbox has no account for: it answers 402, as Keepa does.
REFUSED_KEY = "refusedkey" + "0" * 54
SECRETS = (KEY, REFUSED_KEY, WEB_TOKEN, DB_PASSWORD, REDIS_PASSWORD)


@pytest.fixture
def clock() -> FakeClock:
    """The sandbox's clock at the real time: the CLI runs on the real clock."""
    return FakeClock(time.time_ns() // 1_000_000)


def clean_env(tmp: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any setting of ours, plus ``settings``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEEPA_", "REDIS_URL", "DATABASE_URL", "XDG_DATA_HOME"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT),
                                                    env.get("PYTHONPATH")) if p)
    env["KEEPA_DEALS_DATA_DIR"] = str(tmp / "data")
    env.update(settings)
    return env


def cli(env: dict[str, str], *args: str, cwd: Path, timeout: float = 50
        ) -> subprocess.CompletedProcess[str]:
    """``python -m keepa_deals ARGS``; never a traceback, never a secret."""
    proc = subprocess.run([sys.executable, "-m", "keepa_deals", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    everything = proc.stdout + proc.stderr
    assert "Traceback" not in everything, everything
    for secret in SECRETS:
        assert secret not in everything, f"a secret was printed: {everything}"
    return proc


# --- the table of bad inputs ------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad input: the command, the settings, and what its one line must say.

    ``{busy}`` in an argument or a setting is a port something already listens on (and
    never accepts on: a connection to it stays in its backlog, where the test sees it);
    ``{keepa}`` the sandbox Keepa server's URL; ``{closed}`` a port nothing listens on.
    """

    what: str
    args: tuple[str, ...]
    says: str
    env: dict[str, str] = field(default_factory=dict)


GOOD_KEY = {"KEEPA_API_KEY": KEY, "KEEPA_API_URL": "{keepa}"}

BAD_INPUTS: tuple[Bad, ...] = (
    # --- settings ---
    Bad("unknown log level", ("status",), "KEEPA_DEALS_LOG_LEVEL must be one of DEBUG",
        {"KEEPA_DEALS_LOG_LEVEL": "LOUD"}),
    Bad("unparsable Keepa URL", ("ingest", "--once"), "KEEPA_API_URL is not a valid URL",
        {**GOOD_KEY, "KEEPA_API_URL": "http://[::1"}),
    Bad("Keepa URL without a scheme", ("tokens", "sync"),
        "KEEPA_API_URL must start with http:// or https://",
        {**GOOD_KEY, "KEEPA_API_URL": "api.keepa.com"}),
    Bad("web token too short (never echoed)", ("serve",),
        "KEEPA_DEALS_WEB_TOKEN must be at least 12 characters",
        {"KEEPA_DEALS_WEB_TOKEN": WEB_TOKEN}),
    Bad("web token too short, any command", ("settings",), "KEEPA_DEALS_WEB_TOKEN",
        {"KEEPA_DEALS_WEB_TOKEN": WEB_TOKEN}),
    Bad("not a number", ("run", "--for", "1s"),
        "KEEPA_DEALS_INGEST_MAX_PAGES must be a whole number (got 'abc')",
        {"KEEPA_DEALS_INGEST_MAX_PAGES": "abc"}),
    Bad("negative interval", ("run",), "KEEPA_DEALS_INGEST_INTERVAL_S must be more than 0",
        {"KEEPA_DEALS_INGEST_INTERVAL_S": "-5"}),
    Bad("two settings wrong at once", ("status",),
        "KEEPA_DEALS_HTTP_TIMEOUT_S must be more than 0 (got '0'); KEEPA_DEALS_LOG_FORMAT",
        {"KEEPA_DEALS_HTTP_TIMEOUT_S": "0", "KEEPA_DEALS_LOG_FORMAT": "xml"}),
    Bad("port out of range", ("health", "--serve"),
        "KEEPA_DEALS_METRICS_PORT must be at most 65535", {"KEEPA_DEALS_METRICS_PORT": "70000"}),
    Bad("Redis URL of another scheme (password never echoed)", ("status",),
        "REDIS_URL must be a redis://",
        {"REDIS_URL": f"http://:{REDIS_PASSWORD}@127.0.0.1:6379/0"}),
    Bad("malformed key: refused before any network", ("ingest", "--once"),
        "KEEPA_API_KEY is malformed: a Keepa access key is 64 lower-case letters and digits",
        {"KEEPA_API_KEY": "not-a-key", "KEEPA_API_URL": "http://127.0.0.1:{busy}",
         "KEEPA_DEALS_HTTP_RETRIES": "4"}),
    Bad("malformed key, tokens sync", ("tokens", "sync"), "KEEPA_API_KEY is malformed",
        {"KEEPA_API_KEY": "not-a-key", "KEEPA_API_URL": "http://127.0.0.1:{busy}"}),
    Bad("key in upper case", ("tokens", "sync"), "KEEPA_API_KEY is malformed",
        {"KEEPA_API_KEY": KEY.upper(), "KEEPA_API_URL": "http://127.0.0.1:{busy}"}),
    Bad("no key", ("tokens", "sync"), "KEEPA_API_KEY is not set", {"KEEPA_API_URL": "{keepa}"}),
    Bad("key refused by Keepa (402)", ("tokens", "sync"), "no active Keepa plan",
        {"KEEPA_API_KEY": REFUSED_KEY, "KEEPA_API_URL": "{keepa}"}),
    Bad("query file missing", ("ingest", "--once"), "cannot read the file",
        {**GOOD_KEY, "KEEPA_DEALS_QUERIES": "/no/such/query.toml"}),
    Bad("unknown built-in query", ("run", "--for", "1s"), "no built-in query 'no-such-query'",
        {**GOOD_KEY, "KEEPA_DEALS_QUERIES": "no-such-query"}),
    Bad("one query twice", ("ingest", "--once"), "names the query used-books-us more than once",
        {**GOOD_KEY, "KEEPA_DEALS_QUERIES": "used-books-us,used-books-us"}),
    Bad("database of an unsupported kind (password hidden)", ("db", "current"),
        "DATABASE_URL must be postgresql://",
        {"DATABASE_URL": f"mysql://u:{DB_PASSWORD}@127.0.0.1/db"}),
    Bad("database down (password hidden)", ("db", "current"), "database unavailable",
        {"DATABASE_URL": f"postgresql://u:{DB_PASSWORD}@127.0.0.1:{{closed}}/db"}),
    Bad("data directory that cannot exist", ("ingest", "--once"), "cannot create the directory",
        {**GOOD_KEY, "KEEPA_DEALS_DATA_DIR": "/proc/keepa-deals"}),
    Bad("dashboard on all interfaces without a token", ("serve",),
        "without an access token", {"KEEPA_DEALS_WEB_HOST": "0.0.0.0"}),
    Bad("beat without Redis", ("beat",), "Celery mode needs REDIS_URL"),
    # --- command lines ---
    Bad("ingest without --once", ("ingest",), "give --once"),
    Bad("a duration that is not one", ("run", "--for", "5x"), "not a duration: '5x'"),
    Bad("a duration of zero", ("run", "--for", "0"), "must be more than 0"),
    Bad("no such command", ("frobnicate",), "No such command 'frobnicate'"),
    Bad("no such option", ("--nope",), "No such option '--nope'"),
    Bad("no such option of a verb", ("status", "--nope"), "No such option '--nope'"),
    Bad("no such doctor check", ("doctor", "--check", "nope"), "no such checks: nope"),
    Bad("port out of range", ("serve", "--port", "99999"), "99999 is not in the range"),
    Bad("query file missing (--query)", ("ingest", "--once", "--query", "/no/such/query.toml"),
        "cannot read the file", GOOD_KEY),
    Bad("unknown query (janitor)", ("janitor", "--once", "--query", "no-such-query"),
        "no built-in query"),
    # --- busy ports ---
    Bad("busy port: health --serve", ("health", "--serve", "{busy}"),
        "cannot serve /healthz and /metrics on 127.0.0.1:{busy}"),
    Bad("busy port: run --web", ("run", "--sandbox", "--web"),
        "cannot serve the dashboard (--web) on 127.0.0.1:{busy}",
        {"KEEPA_DEALS_WEB_PORT": "{busy}"}),
    Bad("busy port: run --metrics", ("run", "--sandbox", "--metrics"),
        "cannot serve /healthz and /metrics (--metrics) on 127.0.0.1:{busy}",
        {"KEEPA_DEALS_METRICS_PORT": "{busy}"}),
    Bad("busy port: serve", ("serve", "--port", "{busy}"), "cannot listen on 127.0.0.1:{busy}"),
    Bad("busy port: sandbox", ("sandbox", "--port", "{busy}"),
        "cannot listen on 127.0.0.1:{busy}"),
)


@dataclass
class Tried:
    bad: Bad
    line: str
    code: int
    seconds: float
    stderr: str


@pytest.fixture
def busy() -> Iterator[socket.socket]:
    """A port in use: bound and listening, never accepting."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def connected(sock: socket.socket) -> bool:
    """Whether anything connected to the busy port (the connection waits in its backlog)."""
    sock.setblocking(False)
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def try_bad_inputs(tmp: Path, keepa_url: str, busy: int) -> list[Tried]:
    """Run every row of :data:`BAD_INPUTS` (a few at a time) and collect what each printed."""
    closed = free_port()

    def fill(text: str) -> str:
        return (text.replace("{busy}", str(busy)).replace("{keepa}", keepa_url)
                .replace("{closed}", str(closed)))

    def one(bad: Bad) -> Tried:
        env = clean_env(tmp, **{k: fill(v) for k, v in bad.env.items()})
        started = time.monotonic()
        proc = cli(env, *(fill(a) for a in bad.args), cwd=tmp)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return Tried(bad, lines[0] if len(lines) == 1 else "", proc.returncode,
                     time.monotonic() - started, proc.stderr)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, BAD_INPUTS))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_bad_input_is_one_clear_line_exit_2_no_traceback_no_secret(
        tmp_path: Path, keepa_url: str, busy: socket.socket) -> None:
    port = int(busy.getsockname()[1])
    results = try_bad_inputs(tmp_path, keepa_url, port)
    problems = []
    for r in results:
        expected = r.bad.says.replace("{busy}", str(port))
        if r.code != 2 or not r.line.startswith("error: ") or expected not in r.line:
            problems.append(f"{r.bad.what}: exit {r.code}, stderr {r.stderr!r}")
        if "input_value" in r.stderr or "errors.pydantic.dev" in r.stderr:
            problems.append(f"{r.bad.what}: a raw pydantic dump: {r.stderr!r}")
    assert not problems, "\n".join(problems)
    assert not connected(busy), "a malformed key went to the network"


# --- KEEPA_DEALS_QUERIES means the same everywhere ------------------------------------------


def my_query(path: Path, name: str = "my-books") -> Path:
    text = resources.files("keepa_deals").joinpath("query/builtin/used-books-us.toml").read_text()
    path.write_text(text.replace('name = "used-books-us"', f'name = "{name}"'))
    return path


def test_queries_setting_is_honoured_by_ingest_run_and_settings(tmp_path: Path, keepa_url: str
                                                                 ) -> None:
    db = tmp_path / "deals.sqlite3"
    env = clean_env(tmp_path, KEEPA_API_KEY=KEY, KEEPA_API_URL=keepa_url,
                    DATABASE_URL=f"sqlite:///{db}", KEEPA_DEALS_HTTP_RETRIES="0",
                    KEEPA_DEALS_QUERIES=str(my_query(tmp_path / "mine.toml")))
    shown = json.loads(cli(env, "settings", "--json", cwd=tmp_path).stdout)
    assert shown["KEEPA_DEALS_QUERIES"] == {"value": [str(tmp_path / "mine.toml")],
                                            "source": "env"}
    once = cli(env, "ingest", "--once", "--json", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["query"] == "my-books"
    run = cli(env, "run", "--for", "1s", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ingesting my-books every" in run.stdout
    with DealStore.open(f"sqlite:///{db}") as store:
        assert {r.query_name for r in store.recent_runs()} == {"my-books"}

    del env["KEEPA_DEALS_QUERIES"]
    shown = json.loads(cli(env, "settings", "--json", cwd=tmp_path).stdout)
    assert shown["KEEPA_DEALS_QUERIES"] == {"value": ["used-books-us"], "source": "default"}
    (tmp_path / ".env").write_text("KEEPA_DEALS_INGEST_MAX_PAGES=2\n")
    text = cli(env, "settings", cwd=tmp_path).stdout
    assert any(line.startswith("KEEPA_DEALS_INGEST_MAX_PAGES=2 ") and line.endswith("(.env)")
               for line in text.splitlines()), text
    assert any(line.startswith("KEEPA_API_KEY=(set) ") and line.endswith("(env)")
               for line in text.splitlines()), text


def test_two_queries_are_both_ingested(tmp_path: Path, keepa_url: str) -> None:
    db = tmp_path / "deals.sqlite3"
    a, b = my_query(tmp_path / "a.toml", "books-a"), my_query(tmp_path / "b.toml", "books-b")
    queries = f"{a},{b}"
    env = clean_env(tmp_path, KEEPA_API_KEY=KEY, KEEPA_API_URL=keepa_url,
                    DATABASE_URL=f"sqlite:///{db}", KEEPA_DEALS_HTTP_RETRIES="0",
                    KEEPA_DEALS_QUERIES=queries)
    once = cli(env, "ingest", "--once", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert [line.split(":")[0] for line in once.stdout.splitlines()] == ["books-a", "books-b"]
    run = cli(env, "run", "--for", "1s", cwd=tmp_path)
    assert run.returncode == 0 and "ingesting books-a, books-b every" in run.stdout
    with DealStore.open(f"sqlite:///{db}") as store:
        names = [r.query_name for r in store.recent_runs()]
    assert names.count("books-a") == names.count("books-b") == 2


# --- a refused key: run exits 2, health and doctor say why ---------------------------------


def test_run_exits_2_when_every_run_failed_and_health_and_doctor_say_why(
        tmp_path: Path, keepa_url: str) -> None:
    env = clean_env(tmp_path, KEEPA_API_KEY=REFUSED_KEY, KEEPA_API_URL=keepa_url,
                    DATABASE_URL=f"sqlite:///{tmp_path / 'deals.sqlite3'}",
                    KEEPA_DEALS_HTTP_RETRIES="0")
    run = cli(env, "run", "--for", "2s", "--interval", "1", cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: all ") and "runs failed" in last and "402" in last, last

    health = cli(env, "health", "--json", cwd=tmp_path)
    report = json.loads(health.stdout)
    assert health.returncode == 1 and report["state"] == "failing", report
    assert "Keepa refuses the key" in report["reason"] and "starting" not in report["reason"]

    doctor = cli(env, "doctor", "--json", cwd=tmp_path)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert doctor.returncode == 1
    assert checks["key"]["verdict"] == "fail" and "refuses the key" in checks["key"]["summary"]
    assert checks["ingestion"]["verdict"] == "fail"
    assert "unreachable" not in checks["clock_skew"]["summary"]
    assert "refused the key" in checks["clock_skew"]["summary"]
    assert "not been asked" not in checks["token_state"]["summary"]
    assert checks["queries"]["verdict"] != "ok"


def test_key_check_accepts_a_good_key_and_names_a_missing_one(tmp_path: Path, keepa_url: str
                                                              ) -> None:
    env = clean_env(tmp_path, KEEPA_API_KEY=KEY, KEEPA_API_URL=keepa_url)
    good = cli(env, "doctor", "--json", "--check", "key", cwd=tmp_path)
    [check] = json.loads(good.stdout)["checks"]
    assert check["verdict"] == "ok" and check["summary"].startswith("accepted by Keepa (300 tokens")
    del env["KEEPA_API_KEY"]
    missing = cli(env, "doctor", "--check", "key", cwd=tmp_path)
    assert missing.returncode == 1
    assert "[FAIL] key          KEEPA_API_KEY is not set" in missing.stdout
    env["KEEPA_API_KEY"] = "not-a-key"
    bad = cli(env, "doctor", "--check", "key", cwd=tmp_path)
    assert bad.returncode == 1 and "KEEPA_API_KEY is malformed" in bad.stdout


def test_health_fails_after_failed_runs_in_a_row_even_within_the_window(tmp_path: Path) -> None:
    from keepa_deals.ops.health import health_report

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'deals.sqlite3'}",
                        data_dir=tmp_path / "data")
    with DealStore.open(settings) as store:
        store.finish_run(store.start_run("q"), "ok", RunCounts(added=1, pages=1))
        assert health_report(settings).state == "healthy"
        for _ in range(2):
            store.finish_run(store.start_run("q"), "error", RunCounts(),
                             error="KeepaServerError: 503")
        assert health_report(settings).state == "healthy"  # two blips: progress still recent
        store.finish_run(store.start_run("q"), "error", RunCounts(), error="KeepaServerError: 503")
        report = health_report(settings)
    assert report.state == "failing" and report.exit_code == 1 and report.http_status == 503
    assert report.reason == "the last 3 runs failed in a row: KeepaServerError: 503"


def test_one_query_failing_beside_one_that_succeeds_fails_health(tmp_path: Path) -> None:
    """Streaks are per query: B's successes between A's failures do not hide A; a query
    that stopped running (removed from the configuration) stops counting after a day."""
    from keepa_deals.ops import facts
    from keepa_deals.ops.health import health_report

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'deals.sqlite3'}",
                        data_dir=tmp_path / "data")
    clock = FakeClock(time.time_ns() // 1_000_000 - 3 * 86_400_000)
    with DealStore.open(settings, clock=clock) as store:
        for _ in range(3):
            store.finish_run(store.start_run("b"), "ok", RunCounts(added=1, pages=1))
            clock.advance(1000)
            store.finish_run(store.start_run("a"), "error", RunCounts(),
                             error="QueryError: no such category")
            clock.advance(1000)
        store.finish_run(store.start_run("b"), "ok", RunCounts(added=1, pages=1))
        failed = facts.failures(store)
        assert failed is not None and (failed.query, failed.count) == ("a", 3)
        assert failed.describe() == "query a: the last 3 runs failed in a row: " \
                                    "QueryError: no such category"
        failing = health_report(settings, clock=clock)
        assert failing.state == "failing" and "query a: the last 3 runs" in failing.reason
        clock.advance(86_400_000 + 60_000)  # "a" is removed; "b" goes on a day later
        store.finish_run(store.start_run("b"), "ok", RunCounts(added=1, pages=1))
        assert facts.failures(store) is None
    report = health_report(Settings(database_url=settings.database_url,
                                    data_dir=settings.data_dir), clock=clock)
    assert "query a" not in report.reason


def test_a_first_run_that_failed_is_not_starting(tmp_path: Path) -> None:
    from keepa_deals.ops.health import health_report

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'deals.sqlite3'}",
                        data_dir=tmp_path / "data")
    with DealStore.open(settings) as store:
        store.start_run("q")
        assert health_report(settings).reason.startswith("starting")
        store.finish_run(store.start_run("q"), "error", RunCounts(),
                         error="KeepaTransportError: connection refused")
        report = health_report(settings)
    assert report.state == "failing" and "connection refused" in report.reason


# --- /metrics of health --serve ----------------------------------------------------------------


def test_health_serve_metrics_show_the_stored_balance(tmp_path: Path, keepa_url: str,
                                                      sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=1185)
    env = clean_env(tmp_path, KEEPA_API_KEY=KEY, KEEPA_API_URL=keepa_url,
                    DATABASE_URL=f"sqlite:///{tmp_path / 'deals.sqlite3'}")
    assert cli(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    assert cli(env, "tokens", "sync", cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "keepa_deals", "health", "--serve", "0"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[1].removesuffix("/healthz")
        text = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert "keepa_deals_tokens_balance 1185.0" in text, text
    assert "keepa_deals_tokens_refill_per_minute 5.0" in text


# --- beat on a fresh host ------------------------------------------------------------------


def test_beat_schedule_file_is_per_deployment_and_a_corrupt_one_is_replaced(
        tmp_path: Path) -> None:
    from keepa_deals.cli.celery_cmd import prepare_schedule, schedule_path

    a = Settings(data_dir=tmp_path, redis_url="redis://:pw@h:6379/0",
                 database_url="postgresql://u:pw@h/a")
    b = Settings(data_dir=tmp_path, redis_url="redis://:pw@h:6379/0",
                 database_url="postgresql://u:pw@h/b")
    assert schedule_path(a) != schedule_path(b) and schedule_path(a) == schedule_path(
        Settings(**a.model_dump()))
    assert schedule_path(a).parent == tmp_path / "beat"
    assert "pw" not in schedule_path(a).name and "h" not in schedule_path(a).name.split("-")[-1:]
    assert prepare_schedule(schedule_path(a)) is None and schedule_path(a).parent.is_dir()
    for suffix in (".dat", ".dir", ".bak"):
        schedule_path(a).with_name(schedule_path(a).name + suffix).write_bytes(b"\x00garbage")
    problem = prepare_schedule(schedule_path(a))
    assert problem, "a corrupt schedule is reported"
    assert not list(tmp_path.glob("beat/*")), "and removed, for Celery to start a fresh one"


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_beat_starts_on_a_fresh_host_and_three_workers_store_deals_within_two_minutes(
        redis_url: str, tmp_path: Path) -> None:
    pytest.importorskip("celery")
    from keepa_deals.sandbox import DEMO_KEY
    from tests._services import postgres_database
    from tests.celery._cluster import Cluster, SandboxProcess, wait_for
    from tests.celery._cluster import clean_env as cluster_env

    logs = tmp_path / "logs"
    logs.mkdir()
    xdg = tmp_path / "xdg"
    xdg.mkdir()  # empty: no keepa-deals directory yet
    sandbox = SandboxProcess(rate=1200, tokens=3000, log=logs / "sandbox.log").start()
    cluster: Cluster | None = None
    beat: subprocess.Popen[bytes] | None = None
    with postgres_database() as db_url:
        store = DealStore.open(db_url)
        try:
            settings = {"REDIS_URL": redis_url, "DATABASE_URL": db_url,
                        "KEEPA_API_URL": sandbox.url, "KEEPA_API_KEY": DEMO_KEY,
                        "XDG_DATA_HOME": str(xdg)}
            env = cluster_env(settings)
            env.pop("KEEPA_DEALS_DATA_DIR", None)
            started = time.monotonic()
            with open(logs / "beat.log", "wb") as log:
                beat = subprocess.Popen([sys.executable, "-m", "keepa_deals", "beat"], env=env,
                                        cwd=logs, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            wait_for("the first tick sent", lambda: "sent the first tick" in (
                logs / "beat.log").read_text(errors="replace"), timeout=20)
            assert time.monotonic() - started < 20
            assert list((xdg / "keepa-deals" / "beat").glob("celerybeat-schedule-*"))
            cluster = Cluster({k: v for k, v in settings.items()}, logs)
            for name in ("w0", "w1", "w2"):
                cluster.start_worker(name)
            wait_for("deals stored", lambda: store.count_deals() > 0,
                     timeout=120 - (time.monotonic() - started))
            assert beat.poll() is None, (logs / "beat.log").read_text(errors="replace")
        finally:
            if cluster is not None:
                cluster.stop_all()
            if beat is not None:
                from tests.celery._cluster import stop_group

                stop_group(beat)
            sandbox.stop()
            store.close()
