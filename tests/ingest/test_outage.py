"""Never stall: an outage of our own parts is a failed run, never a dead scheduler.

``keepa-deals run`` calls ``smart_ingestor`` once per tick; if a run raised
because Redis or the database was unreachable, the loop (and ingestion) would
end until someone restarted it.  Each run instead reports ``error`` and the
next tick tries again, picking up where the last saved batch left off.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.query import DealQuery
from keepa_deals.store import RunOutcome
from tests._services import RedisServer


@pytest.mark.redis
def test_never_stall_redis_down_is_a_failed_run_and_the_next_run_recovers(
    own_redis: RedisServer, sqlite_url: str, make_env: Callable[..., IngestEnv],
    query: DealQuery,
) -> None:
    env = make_env(sqlite_url, redis_url=own_redis.url)
    own_redis.stop()
    report = smart_ingestor(env, query)  # must not raise
    assert report.outcome is RunOutcome.ERROR
    assert report.error and "navailable" in report.error
    own_redis.start()
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK, report.error
    assert report.counts.added > 0
