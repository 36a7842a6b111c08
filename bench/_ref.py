"""The machine's speed beside each measurement: a fixed reference workload, timed.

Benchmarks here run on shared machines whose speed varies by half within minutes.
Each bench times this workload next to its own measurement and prints it as
``ref ms``: runs with similar ``ref ms`` are comparable; when two runs at the same
``ref ms`` still differ, the variance is not the machine's speed, and the bench says
so (see :func:`explains`).

The workload resembles what the benches measure (JSON decoding, building and
sorting Python objects, SQLite inserts and a query through the C library), so a
slow spell that slows one slows the other.  It is the median of ``runs`` timings.
"""

from __future__ import annotations

import sqlite3
import statistics
import time

import orjson

_DOC = orjson.dumps([
    {"asin": f"B{i:09d}", "current": [i % 97 * 13, -1, 1_200 + i, -1, 5_000 + i],
     "title": f"reference item {i}", "stats": {"avg90": [i, i + 1, -1], "drops": i % 31}}
    for i in range(4_000)
])


def _workload() -> int:
    items = orjson.loads(_DOC)
    rows = sorted(((d["asin"], d["current"][0], d["title"]) for d in items),
                  key=lambda r: (r[1], r[0]))
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE t (asin TEXT PRIMARY KEY, price INTEGER, title TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
        db.executemany("UPDATE t SET price = price + 1 WHERE asin = ?",
                       [(r[0],) for r in rows[::3]])
        (n,) = db.execute("SELECT count(*) FROM t WHERE price > 500").fetchone()
    finally:
        db.close()
    return int(n)


def reference_ms(runs: int = 5) -> float:
    """The reference workload's median wall time in milliseconds (tens of milliseconds)."""
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        _workload()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def explains(figures: list[float], refs: list[float], *, tolerance: float = 0.10) -> str:
    """Whether the reference tracks the variance of ``figures`` (times, one per run).

    Normalising each time by its ``ref ms`` should narrow the spread when the machine's
    speed is the cause; the answer is one line to print under a table.
    """
    if len(figures) < 3 or len(figures) != len(refs):
        return "ref ms: too few runs to tell whether it explains the spread"
    raw = (max(figures) - min(figures)) / statistics.median(figures)
    norm = [f / r for f, r in zip(figures, refs, strict=True)]
    scaled = (max(norm) - min(norm)) / statistics.median(norm)
    if raw <= tolerance:
        return f"spread {raw:.0%}: within {tolerance:.0%}, nothing to explain"
    if scaled < raw * 0.6:
        return (f"spread {raw:.0%}, {scaled:.0%} once divided by ref ms: "
                "mostly the machine's speed")
    return (f"spread {raw:.0%}, still {scaled:.0%} once divided by ref ms: "
            "NOT explained by the machine's speed")
