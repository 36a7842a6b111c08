"""Several hosts on one machine: Linux network namespaces joined by a bridge.

Each :class:`Host` is a network namespace with one address on a private /24 that exists only
inside this machine (a bridge made for the test, and gone after it).  Processes started on a
host see only its network: ``127.0.0.1`` is its own, other hosts are reached by address.
:meth:`Host.cut_off` drops every packet between the host and another one (a partition:
what was sent is lost, as across a real network), and :meth:`Host.heal` lifts it.

Making namespaces needs root and ``ip`` (iproute2); :func:`unavailable` says why they
cannot be made here, for a test to skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(("netns", "exec", ns, "ip") if ns else ()), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=20)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here; None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    probe = f"kdprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    ns: str
    address: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, argv: Sequence[str], *, user: str | None = None) -> list[str]:
        run_as = ["runuser", "-u", user, "--"] if user else []
        return ["ip", "netns", "exec", self.ns, *run_as, *argv]

    def start(self, argv: Sequence[str], *, env: Mapping[str, str], log: Path,
              user: str | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host, in a process group of its own, output to ``log``."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.command(argv, user=user), env=dict(env), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=cwd)
        self.procs.append(proc)
        return proc

    def cut_off(self, other: Host) -> None:
        """Drop every packet between this host and ``other``, both ways (a blackhole route
        on each side: what was sent is lost, nothing is refused)."""
        _ip("route", "add", "blackhole", f"{other.address}/32", ns=self.ns)
        _ip("route", "add", "blackhole", f"{self.address}/32", ns=other.ns)

    def heal(self, other: Host) -> None:
        _ip("route", "del", "blackhole", f"{other.address}/32", ns=self.ns, check=False)
        _ip("route", "del", "blackhole", f"{self.address}/32", ns=other.ns, check=False)


class Network:
    """A bridge and hosts on ``10.231.N.0/24`` (N from the process id, so runs do not meet)."""

    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 10000:04d}"
        self.subnet = f"10.231.{os.getpid() % 200 + 20}"
        self.bridge = f"kdbr{self.tag}"
        self.hosts: dict[str, Host] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @property
    def gateway(self) -> str:
        """The address of this process's side (the root namespace) on the bridge."""
        return f"{self.subnet}.1"

    def host(self, name: str) -> Host:
        index = len(self.hosts) + 2
        ns = f"kd{self.tag}-{name}"
        outside, inside = f"kd{self.tag}h{index}", f"kd{self.tag}e{index}"
        address = f"{self.subnet}.{index}"
        _ip("netns", "add", ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("addr", "add", f"{address}/24", "dev", inside, ns=ns)
        _ip("link", "set", inside, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        host = Host(name, ns, address)
        self.hosts[name] = host
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            for proc in host.procs:
                _kill(proc)
            _ip("netns", "del", host.ns, check=False)
        _ip("link", "del", self.bridge, check=False)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass
