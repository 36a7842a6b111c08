"""Process-wide tuning for a long-running ingest process.

Ingestion decodes Keepa replies into many thousands of short-lived lists and
dicts a second.  CPython's default garbage-collector thresholds (a young
collection every 700 container allocations) make it walk each freshly decoded
reply several times while the reply is still alive, promote it, and walk it
again in the older generations: about a third of the time spent per deal
(bench/ingest_throughput.py, docs/benchmarks.md).  Reference counting frees
those objects anyway; the collector is only needed for cycles, which a larger
young generation still collects.
"""

from __future__ import annotations

import gc

#: Container allocations between young collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 50_000
#: Young collections per middle-generation collection, and middle per full (default 10, 10).
GC_OLDER_THRESHOLDS = (20, 20)


def tune_gc() -> None:
    """Freeze what is alive now (imports, settings: it lives as long as the process and
    full collections need not walk it again) and raise the collection thresholds."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *GC_OLDER_THRESHOLDS)
