"""Benchmark: what the Redis token budget costs per Keepa call, beside `limits` and PING.

One loop, one process count (default 1 process): every iteration runs, in a
rotating order so that none always goes first,

* PING: the floor any Redis call pays (one round trip, nothing done);
* limits moving-window ``hit()``: the ``limits`` library's moving-window rate
  limiter on its Redis storage, against the same Redis (one EVALSHA);
* limits fixed-window ``hit()``: its fixed-window limiter (one round trip);
* acquire: one EVALSHA of acquire.lua (a grant of 1 token);
* settle: one EVALSHA of settle.lua (releasing that lease with a Keepa status);
* settle+acquire: one EVALSHA of settle_acquire.lua, the combined step: the
  last call's settle (with its status) riding on the next call's acquire.

In steady state a Keepa call costs the budget one combined step (the
TokenManager defers each settle to the next acquire; a lone settle only when
no call follows), so "our cost per Keepa call" is the settle+acquire row.
The bar: its p50 at most 1.2× limits' moving-window ``hit()`` p50, one
process, same loop.  The run is repeated (``--repeats``); each figure is the
median of the repeats with their range, and bench/_ref.py's reference
workload is timed beside each repeat.

After the repeats, the time each call spends inside Redis is read from
``INFO commandstats`` (``usec_per_call``): ``--redis-side`` combined steps in a
row, then as many moving-window ``hit()`` calls, the statistics reset before
each (``CONFIG RESETSTAT``: a Redis of the bench's own, or one where resetting
them is harmless).

Starts its own redis-server on a free port unless REDIS_URL is set (its keys
are namespaced and cleared afterwards; nothing is flushed)::

    .venv/bin/python bench/budget_redis.py [--seconds 3] [--repeats 5] [--procs 1] [--json]
                                           [--redis-side 5000]
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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
from limits import RateLimitItemPerMinute  # noqa: E402
from limits.storage import RedisStorage  # noqa: E402
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter  # noqa: E402

from bench._ref import explains, reference_ms  # noqa: E402
from keepa_deals.budget.core import MT, Policy  # noqa: E402
from keepa_deals.budget.redis_store import RedisStore  # noqa: E402
from keepa_deals.redis_db.keys import fingerprint  # noqa: E402
from keepa_deals.tokens.status import TokenStatus  # noqa: E402

FP = fingerprint("bench-budget-redis")
POLICY = Policy()
#: a limit no run reaches: every hit() is admitted, as every acquire is granted
LIMIT = RateLimitItemPerMinute(10_000_000)
ROWS = ("PING", "limits moving hit", "limits fixed hit", "acquire", "settle", "settle+acquire")


@dataclass
class Sample:
    """Latencies (ns) per row of one process in one repeat."""

    lat: dict[str, list[int]]


def status() -> TokenStatus:
    """What Keepa's reply says: a large balance, sent now (Redis runs on this host's clock)."""
    return TokenStatus(tokens_left=5_000_000, refill_in_ms=30_000, refill_rate=100_000,
                       timestamp_ms=time.time_ns() // 1_000_000)


def worker(url: str, seconds: float, barrier: Barrier, out: Queue[Sample]) -> None:
    store = RedisStore(url, FP)
    client = redis.Redis.from_url(url)
    storage = RedisStorage(url)
    moving, fixed = MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage)
    pid = os.getpid()
    key = f"bench-{pid}"
    n = 0
    carried = f"bench-{pid}-c0"
    store.acquire(carried, MT, POLICY)  # the lease the first combined step settles

    def lease() -> str:
        nonlocal n
        n += 1
        return f"bench-{pid}-{n}"

    def ping() -> None:
        client.ping()

    def moving_hit() -> None:
        if not moving.hit(LIMIT, key, "moving"):
            raise RuntimeError("limits refused a hit")

    def fixed_hit() -> None:
        if not fixed.hit(LIMIT, key, "fixed"):
            raise RuntimeError("limits refused a hit")

    pending: list[str] = []

    def acquire() -> None:
        lid = lease()
        if store.acquire(lid, MT, POLICY).kind != "grant":
            raise RuntimeError("not granted")
        pending.append(lid)

    def settle() -> None:
        store.settle(pending.pop(), MT, status(), POLICY)

    def combined() -> None:
        nonlocal carried
        lid = lease()
        if store.settle_acquire((carried, MT, status()), lid, MT, POLICY).kind != "grant":
            raise RuntimeError("not granted")
        carried = lid

    # settle must follow acquire: the two run as one unit in the rotation, timed apart
    units: list[list[tuple[str, Callable[[], None]]]] = [
        [("PING", ping)], [("limits moving hit", moving_hit)], [("limits fixed hit", fixed_hit)],
        [("acquire", acquire), ("settle", settle)], [("settle+acquire", combined)],
    ]
    for unit in units:  # warm: connections open, scripts loaded
        for _, op in unit:
            op()
    lat: dict[str, list[int]] = {name: [] for name in ROWS}
    clock = time.perf_counter_ns
    barrier.wait()
    stop = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop:
        i += 1
        for k in range(len(units)):
            for name, op in units[(i + k) % len(units)]:
                t0 = clock()
                op()
                lat[name].append(clock() - t0)
    store.settle(carried, MT, None, POLICY)
    out.put(Sample(lat))
    store.close()
    client.close()


def run(url: str, procs: int, seconds: float) -> dict[str, list[int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out: Queue[Sample] = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(url, seconds, barrier, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    samples = [out.get(timeout=seconds + 60) for _ in ps]
    for p in ps:
        p.join(10)
        if p.exitcode != 0:
            raise SystemExit(f"a worker failed (exit {p.exitcode})")
    return {name: [x for s in samples for x in s.lat[name]] for name in ROWS}


def pct(values: list[int], q: float) -> float:
    """The q-quantile in µs."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000


def prime(url: str) -> None:
    """A balance the run cannot drain (a plan of 100,000 tokens/min)."""
    store = RedisStore(url, FP)
    store.clear()
    store.observe(status(), POLICY, authoritative=True)
    store.close()


def redis_side(url: str, calls: int) -> dict[str, float]:
    """µs inside Redis per call (INFO commandstats): the combined step, a moving-window hit."""
    store = RedisStore(url, FP)
    client = redis.Redis.from_url(url)
    moving = MovingWindowRateLimiter(RedisStorage(url))
    carried = "side-0"
    store.acquire(carried, MT, POLICY)

    def combined(i: int) -> None:
        nonlocal carried
        store.settle_acquire((carried, MT, status()), f"side-{i}", MT, POLICY)
        carried = f"side-{i}"

    def hit(i: int) -> None:
        moving.hit(LIMIT, "side", "moving")

    out: dict[str, float] = {}
    for name, op in (("settle+acquire", combined), ("limits moving hit", hit)):
        for i in range(1, 51):  # warm: scripts and library loaded
            op(-i)
        client.config_resetstat()
        for i in range(1, calls + 1):
            op(i)
        stats = client.info("commandstats")
        used = [v for k, v in stats.items() if k in ("cmdstat_fcall", "cmdstat_evalsha")]
        out[name] = sum(v["usec"] for v in used) / sum(v["calls"] for v in used)
    store.settle(carried, MT, None, POLICY)
    store.close()
    client.close()
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each repeat")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the loop")
    ap.add_argument("--procs", type=int, default=1, help="processes running the loop")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--redis-side", type=int, default=5000, metavar="CALLS",
                    help="calls of each kind timed inside Redis afterwards (0: skip)")
    args = ap.parse_args()

    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        from tests._services import RedisServer

        server = RedisServer().start()
        url = server.url
    repeats: list[dict[str, object]] = []
    try:
        for _ in range(args.repeats):
            ref = reference_ms()
            prime(url)
            lat = run(url, args.procs, args.seconds)
            rows = {name: {"ops": len(v), "p50_us": pct(v, 0.50), "p95_us": pct(v, 0.95)}
                    for name, v in lat.items()}
            repeats.append({"ref_ms": ref, "rows": rows})
        side = redis_side(url, args.redis_side) if args.redis_side else {}
        info = redis.Redis.from_url(url).info("server")
        RedisStore(url, FP).clear()
        lim = redis.Redis.from_url(url)
        for k in lim.scan_iter("LIMITS:*"):  # the limiters' keys, and only those
            lim.delete(k)
        lim.close()
    finally:
        if server is not None:
            server.stop()

    def figures(name: str, field: str) -> list[float]:
        return [r["rows"][name][field] for r in repeats]  # type: ignore[index]

    refs = [float(r["ref_ms"]) for r in repeats]  # type: ignore[arg-type]
    ratios = [c / m for c, m in zip(figures("settle+acquire", "p50_us"),
                                    figures("limits moving hit", "p50_us"), strict=True)]
    two_step = [(a + s) / m for a, s, m in zip(figures("acquire", "p50_us"),
                                                figures("settle", "p50_us"),
                                                figures("limits moving hit", "p50_us"),
                                                strict=True)]
    ratio = spread(ratios)
    met = ratio["median"] <= 1.2
    env = {"redis": info.get("redis_version"), "python": platform.python_version(),
           "cpus": os.cpu_count(), "procs": args.procs, "seconds": args.seconds,
           "repeats": args.repeats}
    if args.json:
        print(json.dumps({
            "env": env, "ref_ms": spread(refs),
            "rows": {name: {f: spread(figures(name, f)) for f in ("p50_us", "p95_us")}
                     for name in ROWS},
            "per_call_p50_over_limits_moving_p50": ratio,
            "two_steps_p50_over_limits_moving_p50": spread(two_step),
            "bar_met": met, "redis_side_us_per_call": side, "repeats": repeats,
        }, indent=2))
        return 0

    print(f"Redis {env['redis']} on loopback, Python {env['python']}, {env['cpus']} CPUs; "
          f"{args.procs} process(es), one loop of all rows in rotating order, "
          f"{args.repeats} × {args.seconds:g} s")
    r = spread(refs)
    print(f"ref ms (bench/_ref.py) per repeat: median {r['median']:.1f}, "
          f"range {r['min']:.1f}–{r['max']:.1f}")
    print(f"{'operation':<20}{'ops/repeat':>11}{'p50 µs':>8}{'(range)':>14}"
          f"{'p95 µs':>8}{'(range)':>14}{'p50 / PING':>11}")
    ping = statistics.median(figures("PING", "p50_us"))
    for name in ROWS:
        ops = statistics.median(figures(name, "ops"))
        p50, p95 = spread(figures(name, "p50_us")), spread(figures(name, "p95_us"))
        print(f"{name:<20}{ops:>11,.0f}{p50['median']:>8.0f}"
              f"{p50['min']:>7.0f}–{p50['max']:<6.0f}{p95['median']:>8.0f}"
              f"{p95['min']:>7.0f}–{p95['max']:<6.0f}{p50['median'] / ping:>10.2f}×")
    print()
    print(explains(figures("settle+acquire", "p50_us"), refs).replace("spread", "settle+acquire "
                                                                      "p50 spread", 1))
    ts = spread(two_step)
    print(f"per Keepa call, two steps (acquire + settle) p50 / limits moving-window hit p50: "
          f"{ts['median']:.2f}× (range {ts['min']:.2f}–{ts['max']:.2f})")
    print(f"per Keepa call in steady state (settle+acquire) p50 / limits moving-window hit "
          f"p50: {ratio['median']:.2f}× (range {ratio['min']:.2f}–{ratio['max']:.2f})   "
          f"bar ≤ 1.2×: {'met' if met else 'NOT met'}")
    if side:
        print(f"inside Redis per call (INFO commandstats, {args.redis_side:,} calls each in a "
              "row): " + ", ".join(f"{k} {v:.1f} µs" for k, v in side.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
