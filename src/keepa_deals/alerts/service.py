"""One process's alerts: the health monitor and the courier on one deal store.

::

    alerts = AlertService(settings, env.store, budget_store=env.budget.store)
    alerts.tick()          # health checked when due, then the outbox drained (bounded)

``keepa-deals run`` calls ``tick`` from its courier thread after every run; the Celery
task ``keepa_deals.alerts`` calls it on the beat; ``keepa-deals alerts drain`` once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from keepa_deals.alerts.courier import Courier, DrainReport, Sender
from keepa_deals.alerts.health import HealthMonitor, conditions
from keepa_deals.alerts.matching import attach
from keepa_deals.alerts.messages import health_message
from keepa_deals.alerts.send import send
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.ops.sources import Sources
from keepa_deals.settings import Settings
from keepa_deals.store.alerting import AlertBook
from keepa_deals.store.destinations import masked
from keepa_deals.store.store import DealStore

if TYPE_CHECKING:
    from keepa_deals.budget.store import BudgetStore

log = logging.getLogger("keepa_deals.alerts")

#: How often the announced-deal marks of deals no longer stored are forgotten.
FORGET_EVERY_S = 3600.0


class AlertService:
    def __init__(self, settings: Settings, store: DealStore, *,
                 budget_store: BudgetStore | None = None, clock: Clock | None = None,
                 sender: Sender = send) -> None:
        self.settings = settings
        self.store = attach(store, settings)
        self.book = AlertBook(store)
        self.budget_store = budget_store
        self.clock = clock
        self.sender = sender
        self.courier = Courier(settings, self.book, sender=sender)
        self.monitor = HealthMonitor(settings, self.book, direct=self._direct)
        self._checked_at: float | None = None
        self._forgot_at: float | None = None
        self._lock = threading.Lock()

    def check_health(self) -> list[str]:
        sources = Sources(self.settings, clock=None if self.clock in (None, SYSTEM_CLOCK)
                          else self.clock, deal_store=self.store,
                          budget_store=self.budget_store)
        try:
            found = conditions(self.settings, self.book, sources)
        finally:
            sources.close()
        events = self.monitor.step(found)
        for e in events:
            log.warning("health alert %s", e)
        return events

    def tick(self, *, force_health: bool = False) -> DrainReport:
        """Check health when due (every ``KEEPA_DEALS_ALERT_CHECK_INTERVAL_S``), then drain."""
        with self._lock:
            now = time.monotonic()
            due = (self._checked_at is None
                   or now - self._checked_at >= self.settings.alert_check_interval_s)
            if force_health or due:
                self._checked_at = now
                try:
                    self.check_health()
                except Exception:
                    log.exception("the health alerts could not be checked")
            if self._forgot_at is None or now - self._forgot_at >= FORGET_EVERY_S:
                self._forgot_at = now
                try:  # a retired deal that comes back is a new row: announced again
                    self.book.forget_gone()
                except Exception:
                    log.exception("could not forget the marks of retired deals")
            return self.courier.drain()

    def _direct(self, mid: str, payload: dict[str, Any]) -> None:
        msg = health_message(payload, mid)
        for url in self.settings.alert_urls:
            result = self.sender(url, msg.title, msg.body,
                                 timeout_s=self.settings.alert_timeout_s, message_id=mid,
                                 key=self.courier._key)
            if not result.ok:
                log.error("health alert %s to %s failed: %s", mid, masked(url), result.error)


__all__ = ["AlertService"]
