"""Alerts: good deals and our own decline, pushed to where people look (docs/alerts.md).

* **Destinations** are Apprise URLs (``send.py``); they hold secrets, so they are
  stored once and shown masked (``keepa_deals.store.destinations``).
* **Deal alerts** are saved searches with destinations.  The deal store's unit of
  work queues their messages in the transaction that writes the deals
  (``keepa_deals.store.outbox``), with the filter compiled here (``matching.py``).
* **Health alerts** (``health.py``) are the doctor's findings with their words:
  fired when they start, repeated at most every ``KEEPA_DEALS_ALERT_REPEAT_H``,
  resolved when they end; their state is kept in the store.
* **Delivery** (``courier.py``) drains the outbox under a lease, with retries and
  backoff, in bounded time, off the ingest path: the ``run`` loop's courier
  thread, the Celery ``keepa_deals.alerts`` task, or ``keepa-deals alerts drain``.
"""

from keepa_deals.alerts.matching import attach, compile_filter, matcher_for

__all__ = ["attach", "compile_filter", "matcher_for"]
