"""A Celery-mode deployment on one machine, in real processes, for tests and bench/.

* :class:`SandboxProcess`: ``python -m keepa_deals sandbox`` on a free port,
  driven and read through its admin endpoints (accounts, faults, counters);
* :class:`Cluster`: beat and workers as ``python -m celery -A
  keepa_deals.celery_app ...`` processes, each in its own process group so that
  a worker can be killed whole (``SIGKILL``, as when its host dies), with the
  settings passed as environment variables and each process's log in a file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from keepa_deals.sandbox import DEMO_KEY, fingerprint
from tests._services import free_port

DEMO_FP = fingerprint(DEMO_KEY)
#: Environment variables of this process that must not leak into the cluster's.
_OWN_PREFIXES = ("KEEPA_", "REDIS_URL", "DATABASE_URL")


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when the process that started it dies (Linux),
    so a test killed from outside leaves no sandbox or worker behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something true; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@dataclass
class SandboxProcess:
    """The sandbox Keepa server in a process of its own, on real time."""

    rate: int
    tokens: int
    seed: int = 0
    event_interval_s: float = 20.0
    backlog_s: float = 3600.0
    log: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> SandboxProcess:
        cmd = [sys.executable, "-m", "keepa_deals", "sandbox", "--port", str(self.port), "--json",
               "--rate", str(self.rate), "--tokens", str(self.tokens), "--seed", str(self.seed),
               "--event-interval", str(self.event_interval_s), "--backlog", str(self.backlog_s)]
        err = open(self.log, "ab") if self.log else None  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=err or subprocess.DEVNULL, env=clean_env({}),
                                     start_new_session=True, preexec_fn=die_with_parent)
        if err is not None:
            err.close()
        assert self.proc.stdout is not None
        text = b""
        while True:  # `--json` prints one indented object
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox did not start")
            text += line
            if line.startswith(b"}"):
                break
        self.url = json.loads(text)["url"]
        self.client = httpx.Client(base_url=self.url, timeout=10)
        wait_for("the sandbox", self._up, timeout=20)
        return self

    def _up(self) -> bool:
        try:
            return self.client.get("/_sandbox/state").status_code == 200
        except httpx.HTTPError:
            return False

    def state(self) -> dict[str, Any]:
        reply = self.client.get("/_sandbox/state")
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def account(self) -> dict[str, Any]:
        reply = self.client.get(f"/_sandbox/accounts/{DEMO_FP}")
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def update_account(self, **changes: Any) -> dict[str, Any]:
        reply = self.client.patch(f"/_sandbox/accounts/{DEMO_FP}", json=changes)
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def set_faults(self, **config: Any) -> None:
        self.client.put("/_sandbox/faults", json=config).raise_for_status()

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
            self.client.close()


def refused(account: Mapping[str, Any], endpoint: str) -> int:
    """429s the sandbox answered on ``endpoint`` (``product``, ``deal``, ``token``)."""
    return sum(r["count"] for r in account["counters"]["requests"]
               if r["endpoint"] == endpoint and r["status"] == 429)


def requests_to(account: Mapping[str, Any], endpoint: str) -> int:
    return sum(r["count"] for r in account["counters"]["requests"] if r["endpoint"] == endpoint)


def clean_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without our settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(settings)
    return env


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the leader (a warm shutdown: it lets its pool finish), then SIGKILL the
    whole process group if anything is left."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    kill_group(proc)  # the pool's children too


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


@dataclass
class Cluster:
    """Beat and workers of one deployment; ``settings`` are environment variables."""

    settings: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "celery", "-A", "keepa_deals.celery_app", *args]
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=clean_env(self.settings), start_new_session=True,
                                cwd=self.logs, preexec_fn=die_with_parent)
        log.close()
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, concurrency: int = 1) -> subprocess.Popen[bytes]:
        return self._start(name, ["worker", "--concurrency", str(concurrency), "--hostname",
                                  f"{name}@%h", "--loglevel", "INFO", "--without-gossip",
                                  "--without-mingle", "--without-heartbeat"])

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self._start("beat", ["beat", "--loglevel", "INFO", "--max-interval", "1",
                                    "--schedule", str(self.logs / "celerybeat-schedule")])

    def pgid(self, name: str) -> int:
        return self.procs[name].pid  # each is its own session leader

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool processes at once (its host died)."""
        kill_group(self.procs.pop(name))

    def stop(self, name: str) -> None:
        stop_group(self.procs.pop(name))

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def pid_of_owner(owner: str) -> int | None:
    """The pid in a lock owner id (``<host>-<pid>-<hex>``)."""
    parts = owner.rsplit("-", 2)
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
