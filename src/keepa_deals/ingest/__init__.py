"""The Smart Ingestor: the deal feed into the deal store, spending tokens only where they pay.

::

    from keepa_deals.ingest import open_env, smart_ingestor

    with open_env(settings) as env:
        report = smart_ingestor(env, query)     # one run: lock, scan, check, refresh, record

Stages (see docs/ingest.md): the feed newest first down to the watermark with
the free feed filter (a source: source.py, feed.py); a 1-token product check;
offers only for the survivors; a refresh of stored deals, oldest first (the
stages: stages.py).  Every paid-for reply is saved with the watermark and the
scan ledger in one transaction before the next call (the sink: the deal
store's unit of work), by the embedded run (pipeline.py) and Celery mode's
batch task alike.
"""

from keepa_deals.ingest.env import IngestEnv, open_env
from keepa_deals.ingest.report import IngestReport, RefreshCapacity
from keepa_deals.ingest.runner import smart_ingestor
from keepa_deals.stop import RunStopped, StopSignal

__all__ = [
    "IngestEnv",
    "IngestReport",
    "RefreshCapacity",
    "RunStopped",
    "StopSignal",
    "open_env",
    "smart_ingestor",
]
