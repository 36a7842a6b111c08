"""Token economy: does the budget spend the refill, with no 429s and no idle bucket?

Two accounts on one sandbox Keepa server, both starting at 0 tokens with the
same refill rate and an endless backlog of product lookups:

* **keepa-deals**: worker threads calling ``KeepaClient.products`` through the
  shared token budget (the embedded SQLite store, or Redis when ``REDIS_URL``
  is set); a ``TokenRechargeError`` makes a worker come back at ``retry_after``.
* **retry-on-429**: the same threads making the same calls the way the
  ``keepa`` package does: send, and on a 429 sleep until the refill
  (``refillIn`` plus the deficit at the refill rate) and send again.

Goals (issue: the shared token budget): tokens consumed ≥ 98 % of tokens
refilled, zero 429s, and the balance never at the cap while work is pending.

    python bench/token_economy.py                 # 5 minutes
    python bench/token_economy.py --minutes 2 --rate 600 --workers 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx

from keepa_deals.budget import TokenRechargeError
from keepa_deals.budget.factory import open_budget
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.settings import Settings

OURS = "bencheconomyours" + "0" * 48
THEIRS = "bencheconomyretry" + "0" * 47


@dataclass
class Side:
    name: str
    key: str
    calls: int = 0
    errors: int = 0
    at_cap_samples: int = 0
    samples: int = 0
    balances: list[int] = field(default_factory=list)


def asin_batches(sandbox: Sandbox, size: int):  # noqa: ANN201 - a generator of lists
    asins = [p.asin for p in sandbox.catalog.products]
    for i in count():
        start = (i * size) % (len(asins) - size)
        yield asins[start:start + size]


def run_ours(side: Side, url: str, data_dir: Path, batches, stop: threading.Event,  # noqa: ANN001
             workers: int, lock: threading.Lock) -> tuple[threading.Thread, ...]:
    settings = Settings(keepa_api_key=side.key, keepa_api_url=url, data_dir=data_dir)
    http = KeepaHTTP(side.key, base_url=url)
    budget = open_budget(settings, sync=http.token_status)
    client = KeepaClient(http, budget, max_wait_s=60)

    def work() -> None:
        while not stop.is_set():
            with lock:
                asins = next(batches)
            try:
                client.products(asins, stats=90)
                side.calls += 1
            except TokenRechargeError as exc:
                stop.wait(exc.retry_after)
            except Exception:  # noqa: BLE001 - counted and reported
                side.errors += 1
                stop.wait(1)

    side.budget = budget  # type: ignore[attr-defined]
    return tuple(threading.Thread(target=work, daemon=True) for _ in range(workers))


def run_theirs(side: Side, url: str, batches, stop: threading.Event, workers: int,  # noqa: ANN001
               lock: threading.Lock) -> tuple[threading.Thread, ...]:
    client = httpx.Client(base_url=url, timeout=30)

    def work() -> None:
        while not stop.is_set():
            with lock:
                asins = next(batches)
            while not stop.is_set():
                r = client.get("/product/", params={"key": side.key, "domain": 1,
                                                    "asin": ",".join(asins), "stats": 90})
                if r.status_code != 429:
                    side.calls += r.status_code == 200
                    side.errors += r.status_code != 200
                    break
                body = r.json()  # keepa's time_to_refill: refillIn + 1 s, plus the deficit
                wait_ms = body["refillIn"] + 1000
                if body["tokensLeft"] < 0:
                    wait_ms += -body["tokensLeft"] / max(body["refillRate"], 1) * 60_000
                stop.wait(wait_ms / 1000)

    return tuple(threading.Thread(target=work, daemon=True) for _ in range(workers))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=600, help="refill rate, tokens per minute")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=10, help="ASINs per /product call (1 token each)")
    args = ap.parse_args()

    sandbox = Sandbox(demo_account=False)
    phase = (sandbox.now_ms() + 20_000) % 60_000  # the first refill 20 s in
    sides = [Side("keepa-deals", OURS), Side("retry-on-429", THEIRS)]
    for s in sides:
        sandbox.add_account(s.key, tokens=0, refill_rate=args.rate, phase_ms=phase)

    stop = threading.Event()
    with SandboxServer(sandbox) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("KEEPA_API_KEY", None)
        batches_ours, batches_theirs = asin_batches(sandbox, args.batch), asin_batches(sandbox, args.batch)
        lock_ours, lock_theirs = threading.Lock(), threading.Lock()
        threads = run_ours(sides[0], server.url, Path(tmp), batches_ours, stop, args.workers, lock_ours)
        threads += run_theirs(sides[1], server.url, batches_theirs, stop, args.workers, lock_theirs)
        for t in threads:
            t.start()
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            for s in sides:
                st = sandbox.account(s.key)
                s.samples += 1
                s.at_cap_samples += st.tokens >= st.cap
                s.balances.append(st.tokens)
            time.sleep(0.5)
        finals = {s.name: sandbox.account(s.key) for s in sides}
        stop.set()
        for t in threads:
            t.join(timeout=35)
        # Calls still in flight at the snapshot return afterwards: count them apart.
        after = {s.name: s.calls - finals[s.name].requests_to("product", 200) for s in sides}

    budget = sides[0].budget  # type: ignore[attr-defined]
    rows = [
        ("tokens refilled", lambda st, s: st.tokens_refilled),
        ("tokens consumed", lambda st, s: st.tokens_consumed),
        ("consumed / refilled", lambda st, s: f"{st.tokens_consumed / max(st.tokens_refilled, 1):.1%}"),
        ("429 on /product", lambda st, s: st.requests_to("product", 429)),
        ("429 on /token (free)", lambda st, s: st.requests_to("token", 429)),
        ("product calls (Keepa's count)", lambda st, s: st.requests_to("product", 200)),
        ("lowest balance", lambda st, s: st.min_balance),
        ("final balance", lambda st, s: st.tokens),
        ("samples at the cap", lambda st, s: f"{s.at_cap_samples}/{s.samples}"),
        ("/token calls", lambda st, s: st.requests_to("token")),
    ]
    print(f"\n{args.minutes:g} min, rate {args.rate}/min (cap {60 * args.rate}), "
          f"{args.workers} workers each side, {args.batch} ASINs per call, start at 0 tokens\n")
    print(f"{'':30}{'keepa-deals':>16}{'retry-on-429':>16}")
    for label, fn in rows:
        vals = [fn(finals[s.name], s) for s in sides]
        print(f"{label:30}{vals[0]!s:>16}{vals[1]!s:>16}")
    print(f"{'calls returned after it':30}" + "".join(f"{after[s.name]:>16}" for s in sides))
    print("\nEvery row is read from the sandbox at one moment, the end of the run; calls in "
          "flight then\n(at most one per worker) are paid for and counted after it, on the last "
          "line.")
    ours = finals["keepa-deals"]
    ok = (ours.tokens_consumed >= 0.98 * ours.tokens_refilled
          and ours.requests_to("product", 429) == 0 and sides[0].at_cap_samples == 0)
    print(f"\nbudget syncs made by the manager: {budget.syncs}")
    print("goals (≥ 98 % consumed, no 429 on a paid call, never at the cap):",
          "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
