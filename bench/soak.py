"""Soak: the real ingestor loop on the sandbox, with faults, for a while; then audit it.

Runs ``keepa_deals.ingest.loop.run_loop`` (the loop behind ``keepa-deals run``)
on real time against an in-process sandbox Keepa server, with Redis (a
redis-server of its own) for the budget and the locks and a SQLite deal store,
while it injects faults:

* 10 % 5xx replies (500 and 503) and 2 % truncated bodies, all along;
* a Redis restart at 40 % of the time: down for an interval and 5 s (so a run
  meets it), then back empty (nothing is persisted);
* a plan downgrade (20 → 5 tokens a minute) at 60 % of the time.

Then it checks:

* the log (JSON, INFO) stayed under ``LOG_BYTES_PER_RUN`` per run and
  ``LOG_BYTES_PER_MINUTE`` (the volume docs/operations.md states);
* the request counter (``keepa_deals_keepa_requests_total`` by endpoint and
  status) equals the sandbox's own count of requests;
* tokens consumed (``keepa_deals_tokens_consumed_total``) equal the sandbox's
  tokens consumed, less what truncated replies charged (their token fields
  are lost with the body; bounded by truncations × the largest call);
* ``status`` agrees: after a forced sync its anchor is the sandbox's balance,
  and the runs' recorded tokens match the sandbox within the same bound;
* ``/metrics`` and ``/healthz`` answer, and ``doctor`` runs.

Not part of the test suite.  Run it from the repository root::

    .venv/bin/python bench/soak.py                 # 20 minutes
    .venv/bin/python bench/soak.py --minutes 3     # a short version
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest import StopSignal, open_env
from keepa_deals.ingest.loop import ScheduledRun, run_loop
from keepa_deals.ops import logging as ops_logging
from keepa_deals.ops import metrics
from keepa_deals.ops.doctor import overall, run_checks
from keepa_deals.ops.health_app import serve_in_thread
from keepa_deals.ops.status import collect_status
from keepa_deals.query import default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' service helpers
from tests._services import RedisServer  # noqa: E402

KEY = "soaktestkey" + "0" * 53
#: The log volume docs/operations.md promises (JSON lines at INFO, faults included).
LOG_BYTES_PER_RUN = 6_000
LOG_BYTES_PER_MINUTE = 40_000
#: The largest single call the ingestor makes: 100 ASINs at 1 token, or a 5-token page.
MAX_CALL_TOKENS = 100


class Events:
    """Faults scheduled at fractions of the soak, run from a timer thread."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self._threads: list[threading.Timer] = []

    def at(self, seconds: float, what: str, action: Any) -> None:
        def fire() -> None:
            self.log.append(f"{time.strftime('%H:%M:%S')} {what}")
            print(f"  [{time.strftime('%H:%M:%S')}] {what}", flush=True)
            action()

        t = threading.Timer(seconds, fire)
        t.daemon = True
        self._threads.append(t)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def cancel(self) -> None:
        for t in self._threads:
            t.cancel()


def requests_counted() -> dict[tuple[str, str], int]:
    return {(lb["endpoint"], lb["status"]): int(v)
            for _, lb, v in metrics.samples("keepa_deals_keepa_requests_total")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="how long to soak (default 20)")
    ap.add_argument("--interval", type=float, default=15.0,
                    help="seconds between ingest runs (default 15)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="keepa-deals-soak-"))
    seconds = args.minutes * 60
    redis = RedisServer().start()
    sandbox = Sandbox(catalog=CatalogConfig(seed=7, event_interval_s=4.0), demo_account=False)
    sandbox.add_account(KEY, tokens=1200, refill_rate=20)
    sandbox.set_faults(error_rates={500: 0.05, 503: 0.05}, truncate_rate=0.02, seed=11)
    server = SandboxServer(sandbox).start()
    settings = Settings(
        keepa_api_key=KEY, keepa_api_url=server.url, redis_url=redis.url,
        database_url=f"sqlite:///{work / 'deals.sqlite3'}", data_dir=work / "data",
        log_format="json", log_level="INFO", http_retries=3, budget_max_wait_s=10.0,
        ingest_interval_s=args.interval, janitor_interval_s=60.0, ingest_lock_ttl_s=60.0,
    )
    log_path = work / "soak.log"
    log_file = log_path.open("w", encoding="utf-8")
    ops_logging.configure(settings, stream=log_file, force=True)
    health = serve_in_thread(settings, port=0)

    down_s = args.interval + 5  # long enough that a run meets it

    def restart_redis() -> None:
        redis.stop()
        time.sleep(down_s)
        redis.start()

    events = Events()
    events.at(0.4 * seconds, f"Redis down for {down_s:g} s, restarted empty", restart_redis)
    events.at(0.6 * seconds, "plan downgrade: 20 -> 5 tokens/min",
              lambda: sandbox.update_account(KEY, refill_rate=5))

    outcomes: Counter[str] = Counter()
    before = requests_counted()
    consumed_before = metrics.value("keepa_deals_tokens_consumed_total") or 0.0
    stop = StopSignal()
    print(f"soaking {args.minutes:g} min, a run every {args.interval:g} s; work dir {work}",
          flush=True)

    def on_tick(t: ScheduledRun) -> None:
        outcomes[t.report.outcome.value] += 1
        r = t.report
        print(f"  run {r.run_id}: {r.outcome.value:<18} +{r.counts.added} new, "
              f"{r.counts.updated} updated, {r.counts.tokens_spent} tokens"
              + (f" ({r.error[:80]})" if r.error else ""), flush=True)

    started = time.monotonic()
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    deaths: list[str] = []  # the loop raising out is a defect; restarted as a supervisor would
    events.start()
    try:
        while datetime.now(UTC) < until:
            try:
                with open_env(settings, stop=stop) as env:
                    run_loop(env, default_query(), interval_s=args.interval,
                             janitor_interval_s=settings.janitor_interval_s, until=until,
                             on_run=on_tick)
            except KeepaDealsError as exc:
                deaths.append(f"{type(exc).__name__}: {exc}")
                print(f"  [{time.strftime('%H:%M:%S')}] the ingest loop died: {deaths[-1]}; "
                      f"restarting it in {args.interval:g} s", flush=True)
                time.sleep(args.interval)
    finally:
        events.cancel()
    elapsed = time.monotonic() - started
    runs = sum(outcomes.values())
    injected = dict(sandbox.faults.injected)
    sandbox.clear_faults()  # (resets the injected counts: read above)
    log_file.flush()

    # --- the audit ---------------------------------------------------------------
    problems: list[str] = [f"the ingest loop died (restarted): {d}" for d in deaths]
    account = sandbox.account(KEY)
    truncated = int(injected.get("truncate", 0))
    tolerance = truncated * MAX_CALL_TOKENS

    counted = {k: v - before.get(k, 0) for k, v in requests_counted().items()
               if v - before.get(k, 0)}
    served = {(ep, str(st)): n for (ep, st), n in account.requests.items()}
    if counted != served:
        problems.append(f"requests disagree: metrics {counted} vs sandbox {served}")
    consumed = (metrics.value("keepa_deals_tokens_consumed_total") or 0.0) - consumed_before
    if not 0 <= account.tokens_consumed - consumed <= tolerance:
        problems.append(f"tokens consumed disagree: metrics {consumed:.0f} vs sandbox "
                        f"{account.tokens_consumed} (tolerance {tolerance})")

    from keepa_deals.store import DealStore

    with DealStore.open(settings) as store:
        all_runs = store.recent_runs(limit=100_000)
    spent = sum(r.tokens_spent for r in all_runs)
    if abs(account.tokens_consumed - spent) > tolerance:
        problems.append(f"runs recorded {spent} tokens spent, the sandbox charged "
                        f"{account.tokens_consumed} (tolerance {tolerance})")
    from keepa_deals.budget import open_budget
    from keepa_deals.keepa import build_http

    with build_http(settings) as http:
        manager = open_budget(settings, sync=http.token_status)
        manager.sync_tokens(force=True)
        manager.store.close()
    synced = collect_status(settings)
    balance = sandbox.account(KEY).tokens
    if synced["budget"].get("anchor_tokens") != balance:
        problems.append(f"status anchor {synced['budget'].get('anchor_tokens')} != sandbox "
                        f"balance {balance}")

    with httpx.Client(base_url=health.url, timeout=10) as client:
        healthz = client.get("/healthz")
        scraped = client.get("/metrics").text
    health.stop()
    if "keepa_deals_keepa_requests_total" not in scraped:
        problems.append("/metrics lacks the request counter")
    doctor = run_checks(settings, keepa=True)

    log_bytes = log_path.stat().st_size
    log_lines = sum(1 for _ in log_path.open(encoding="utf-8"))
    per_run = log_bytes / max(runs, 1)
    per_minute = log_bytes / max(elapsed / 60, 1e-9)
    if per_run > LOG_BYTES_PER_RUN or per_minute > LOG_BYTES_PER_MINUTE:
        problems.append(f"log too large: {per_run:.0f} B/run (limit {LOG_BYTES_PER_RUN}), "
                        f"{per_minute:.0f} B/min (limit {LOG_BYTES_PER_MINUTE})")
    if KEY in log_path.read_text(encoding="utf-8"):
        problems.append("the key appears in the log")
    levels = Counter(json.loads(line).get("level") for line in log_path.open(encoding="utf-8"))

    report = {
        "minutes": round(elapsed / 60, 2),
        "runs": runs,
        "outcomes": dict(outcomes),
        "loop_deaths": deaths,
        "events": events.log,
        "faults_injected": injected,
        "sandbox": {"requests": {f"{ep} {st}": n for (ep, st), n in
                                 sorted(account.requests.items())},
                    "tokens_consumed": account.tokens_consumed, "balance": balance,
                    "refill_rate": account.refill_rate},
        "metrics": {"requests": {f"{ep} {st}": n for (ep, st), n in sorted(counted.items())},
                    "tokens_consumed": consumed},
        "runs_tokens_spent": spent,
        "tolerance_tokens": tolerance,
        "status": {"deals": synced["deals"], "budget_state": synced["budget"]["state"],
                   "anchor_tokens": synced["budget"].get("anchor_tokens")},
        "healthz": {"status": healthz.status_code, "state": healthz.json().get("state")},
        "doctor": {r.name: r.verdict.value for r in doctor} | {"overall": overall(doctor).value},
        "log": {"bytes": log_bytes, "lines": log_lines, "bytes_per_run": round(per_run),
                "bytes_per_minute": round(per_minute), "levels": dict(levels)},
        "problems": problems,
    }
    print(json.dumps(report, indent=2, default=str))
    redis.stop()
    server.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(redis.dir, ignore_errors=True)
    print("soak: OK" if not problems else f"soak: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
