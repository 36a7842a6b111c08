"""Benchmark: the Redis token budget's acquire + settle against a plain Redis PING.

Measures, in one run on loopback Redis, from 1 process and from N processes
(default 4):

* latency: each process loops PING, acquire, settle, so that the three share
  the same moment's load and the ratio to PING is fair on a busy machine;

  - PING: the floor any Redis call pays (one round trip, nothing done);
  - acquire: one EVALSHA of acquire.lua (a grant of 1 token);
  - settle: one EVALSHA of settle.lua (releasing it, no status);

* throughput: each process loops acquire + settle only, as Keepa calls spend;
  grants/s is the number of such pairs per second, all processes together.

Goals: acquire p50 at most 2× PING p50; at least 5,000 grants/s in total from
4 processes on 2 cores.  Starts its own redis-server on a free port unless
REDIS_URL is set (its keys are namespaced and cleared afterwards, nothing is
flushed)::

    .venv/bin/python bench/budget_redis.py [--seconds 3] [--procs 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from keepa_deals.budget.core import MT, Policy  # noqa: E402
from keepa_deals.budget.redis_store import RedisStore  # noqa: E402
from keepa_deals.redis_db.keys import fingerprint  # noqa: E402
from keepa_deals.tokens.status import TokenStatus  # noqa: E402

FP = fingerprint("bench-budget-redis")
POLICY = Policy()


@dataclass
class Sample:
    """Latencies (ns) of one process in one phase, and its wall time."""

    what: str
    lat: dict[str, list[int]]
    started: float
    ended: float


def worker(url: str, what: str, seconds: float, barrier: Barrier, out: Queue[Sample]) -> None:
    store = RedisStore(url, FP)
    client = redis.Redis.from_url(url)
    client.ping()
    store.now_ms()  # both pools connected before the clock starts
    lat: dict[str, list[int]] = {"ping": [], "acquire": [], "settle": [], "pair": []}
    pid = os.getpid()
    clock = time.perf_counter_ns
    barrier.wait()
    started = time.perf_counter()
    stop = started + seconds
    i = 0
    with_ping = what == "latency"
    while time.perf_counter() < stop:
        i += 1
        lease = f"bench-{pid}-{i}"
        if with_ping:
            t0 = clock()
            client.ping()
            lat["ping"].append(clock() - t0)
        t0 = clock()
        d = store.acquire(lease, MT, POLICY)
        t1 = clock()
        store.settle(lease, MT, None, POLICY)
        t2 = clock()
        if d.kind != "grant":
            raise RuntimeError(f"not granted: {d}")
        lat["acquire"].append(t1 - t0)
        lat["settle"].append(t2 - t1)
        lat["pair"].append(t2 - t0)
    ended = time.perf_counter()
    out.put(Sample(what, lat, started, ended))
    store.close()
    client.close()


def run_phase(url: str, what: str, procs: int, seconds: float) -> list[Sample]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out: Queue[Sample] = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(url, what, seconds, barrier, out))
          for _ in range(procs)]
    for p in ps:
        p.start()
    samples = [out.get(timeout=seconds + 60) for _ in ps]
    for p in ps:
        p.join(10)
        if p.exitcode != 0:
            raise SystemExit(f"a worker failed (exit {p.exitcode})")
    return samples


def pct(values: list[int], q: float) -> float:
    """The q-quantile in µs."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000


def summarise(samples: list[Sample], key: str) -> dict[str, float]:
    lat = [x for s in samples for x in s.lat[key]]
    wall = max(s.ended for s in samples) - min(s.started for s in samples)
    return {
        "ops": len(lat),
        "per_s": len(lat) / wall,
        "p50_us": pct(lat, 0.50),
        "p99_us": pct(lat, 0.99),
        "mean_us": statistics.fmean(lat) / 1000,
    }


def prime(url: str) -> None:
    """A balance that 4 processes cannot drain in the run (a plan of 100,000 tokens/min)."""
    store = RedisStore(url, FP)
    store.clear()
    store.observe(TokenStatus(tokens_left=5_000_000, refill_in_ms=60_000, refill_rate=100_000,
                              timestamp_ms=store.now_ms()), POLICY, authoritative=True)
    store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each phase")
    ap.add_argument("--procs", type=int, default=4, help="processes in the concurrent phases")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        from tests._services import RedisServer

        server = RedisServer().start()
        url = server.url
    try:
        rows: list[tuple[str, int, dict[str, float]]] = []
        for procs in (1, args.procs):
            prime(url)
            mixed = run_phase(url, "latency", procs, args.seconds)
            for key, label in (("ping", "PING"), ("acquire", "acquire"), ("settle", "settle")):
                rows.append((label, procs, summarise(mixed, key)))
            prime(url)
            spend = run_phase(url, "throughput", procs, args.seconds)
            rows.append(("acquire+settle", procs, summarise(spend, "pair")))
        info = redis.Redis.from_url(url).info("server")
        RedisStore(url, FP).clear()
    finally:
        if server is not None:
            server.stop()

    def row(label: str, procs: int) -> dict[str, float]:
        return next(r for lab, p, r in rows if lab == label and p == procs)

    ratio_1 = row("acquire", 1)["p50_us"] / row("PING", 1)["p50_us"]
    ratio_n = row("acquire", args.procs)["p50_us"] / row("PING", args.procs)["p50_us"]
    grants_n = row("acquire+settle", args.procs)["per_s"]
    env = {
        "redis": info.get("redis_version"), "python": platform.python_version(),
        "cpus": os.cpu_count(), "seconds_per_phase": args.seconds,
    }
    if args.json:
        print(json.dumps({
            "env": env,
            "rows": [{"what": lab, "procs": p, **r} for lab, p, r in rows],
            "acquire_p50_over_ping_p50": {"1": ratio_1, str(args.procs): ratio_n},
            "grants_per_s": {str(args.procs): grants_n},
        }, indent=2))
        return 0

    print(f"Redis {env['redis']} on loopback, Python {env['python']}, {env['cpus']} CPUs, "
          f"{args.seconds:g} s per phase")
    print(f"{'operation':<16}{'procs':>6}{'ops/s':>10}{'p50 µs':>9}{'p99 µs':>9}{'mean µs':>9}")
    for label, procs, r in rows:
        if label == "PING":
            print(f"-- latency, interleaved (PING, acquire, settle in one loop), "
                  f"{procs} process(es)")
        elif label == "acquire+settle":
            print(f"-- throughput, acquire+settle only, {procs} process(es)")
        print(f"{label:<16}{procs:>6}{r['per_s']:>10,.0f}{r['p50_us']:>9.0f}{r['p99_us']:>9.0f}"
              f"{r['mean_us']:>9.0f}")
    print()
    print(f"acquire p50 / PING p50: {ratio_1:.2f}× (1 process), {ratio_n:.2f}× "
          f"({args.procs} processes)   goal ≤ 2×")
    print(f"grants/s (acquire+settle pairs), {args.procs} processes: {grants_n:,.0f}   "
          "goal ≥ 5,000")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
