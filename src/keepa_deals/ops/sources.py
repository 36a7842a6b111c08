"""The system's parts as status, doctor and health reach them.

:class:`Sources` opens each part (the deal store, the budget store, Redis,
Keepa's ``/token``) lazily and at most once.  A part that cannot be opened is
``None`` and its reason is kept (``sources.errors[part]``), so that a report
says "unreachable: ..." where a traceback would have been.  Nothing here
migrates, writes or calls Keepa unless asked: opening the deal store never
creates or upgrades a schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.errors import KeepaDealsError
from keepa_deals.tokens.status import TokenStatus

if TYPE_CHECKING:
    import redis

    from keepa_deals.budget.manager import TokenManager
    from keepa_deals.budget.store import BudgetStore
    from keepa_deals.keepa.http import KeepaHTTP
    from keepa_deals.settings import Settings
    from keepa_deals.store.store import DealStore

#: The parts, as named in ``errors`` and in reports.
DATABASE, BUDGET, REDIS, KEEPA = "database", "budget", "redis", "keepa"


@dataclass(frozen=True, slots=True)
class KeepaProbe:
    """One ``/token`` call (free) with our clock read around it."""

    status: TokenStatus
    sent_ms: int  # our clock just before the request
    received_ms: int  # our clock just after the reply

    @property
    def skew_ms(self) -> int:
        """Keepa's clock minus ours, taking the reply as sent mid-way."""
        return self.status.timestamp_ms - (self.sent_ms + self.received_ms) // 2

    @property
    def uncertainty_ms(self) -> int:
        return max(0, self.received_ms - self.sent_ms) // 2 + 1


class Sources:
    """Lazily opened parts of one deployment; close it when done (or use ``with``).

    ``clock`` is ours (a FakeClock in tests).  Without one, the system clock is
    used and the Redis budget store reads Redis ``TIME``, as in production.
    Parts may be passed in ready-made (the dashboard passes its own store).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        deal_store: DealStore | None = None,
        budget_store: BudgetStore | None = None,
        http: KeepaHTTP | None = None,
    ) -> None:
        self.settings = settings
        self._clock_given = clock
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.errors: dict[str, str] = {}
        self._deal_store = deal_store
        self._owns_deal_store = deal_store is None
        self._budget_store = budget_store
        self._owns_budget_store = budget_store is None
        self._http = http
        self._owns_http = http is None
        self._redis: redis.Redis | None = None
        self._manager: TokenManager | None = None
        self._probe: KeepaProbe | None = None
        #: why the /token probe failed (the error itself: a refused key is not an outage)
        self.keepa_error: KeepaDealsError | None = None
        self._tried: set[str] = set()
        self.database_display: str | None = None
        self.redis_where: str | None = None

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def real_clock(self) -> bool:
        """True when our clock is the system's (so comparing it with Redis TIME means something)."""
        return self._clock_given is None

    # --- the deal store ---------------------------------------------------------

    def deal_store(self) -> DealStore | None:
        """The deal store at its current schema, or None (``errors["database"]`` says why)."""
        if self._deal_store is not None or DATABASE in self._tried:
            return self._deal_store
        self._tried.add(DATABASE)
        from keepa_deals.store.engine import database_url, display_url
        from keepa_deals.store.errors import SchemaNotCurrent
        from keepa_deals.store.store import DealStore

        try:
            url = database_url(self.settings)
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                path = Path(url.database).expanduser()
                if not path.exists():
                    self.errors[DATABASE] = (
                        f"no database yet at {path}: run `keepa-deals db upgrade` or start "
                        "the ingestor"
                    )
                    return None
            self._deal_store = DealStore.open(url, clock=self.clock, migrate_schema=False)
        except SchemaNotCurrent as exc:
            self.errors[DATABASE] = str(exc)
        except KeepaDealsError as exc:
            self.errors[DATABASE] = f"unreachable: {exc}"
        except Exception as exc:  # a driver error the store did not translate
            self.errors[DATABASE] = f"unreachable ({type(exc).__name__}): {_first_line(exc)}"
        else:
            self.database_display = display_url(url)
        return self._deal_store

    # --- the token budget ----------------------------------------------------------

    def budget_store(self) -> BudgetStore | None:
        """The budget's store (Redis or SQLite, as the settings say), or None."""
        if self._budget_store is not None or BUDGET in self._tried:
            return self._budget_store
        self._tried.add(BUDGET)
        from keepa_deals.budget.factory import open_budget_store

        try:
            self._budget_store = open_budget_store(self.settings, clock=self._clock_given)
        except KeepaDealsError as exc:
            self.errors[BUDGET] = f"unreachable: {exc}"
        return self._budget_store

    def manager(self) -> TokenManager | None:
        """A TokenManager on the budget store whose syncs call ``/token`` (for repairs)."""
        if self._manager is not None:
            return self._manager
        store = self.budget_store()
        if store is None:
            return None
        from keepa_deals.budget.core import Policy
        from keepa_deals.budget.manager import TokenManager

        self._manager = TokenManager(
            store, policy=Policy.from_settings(self.settings), sync=self._token_status,
            clock=self.clock, max_wait_s=self.settings.budget_max_wait_s,
        )
        return self._manager

    # --- Redis ---------------------------------------------------------------------

    def redis(self) -> redis.Redis | None:
        """A Redis client that answered PING, or None (unset or unreachable)."""
        if self._redis is not None or REDIS in self._tried:
            return self._redis
        self._tried.add(REDIS)
        if not self.settings.redis_url:
            self.errors[REDIS] = "not configured (REDIS_URL unset)"
            return None
        import redis as redis_lib

        from keepa_deals.redis_db.connection import connect, describe

        try:
            client = connect(self.settings.redis_url)
        except KeepaDealsError as exc:
            self.errors[REDIS] = str(exc)
            return None
        self.redis_where = describe(client)
        try:
            client.ping()
        except redis_lib.RedisError as exc:
            client.close()
            self.errors[REDIS] = f"unreachable at {self.redis_where}: {type(exc).__name__}"
            return None
        self._redis = client
        return client

    @property
    def redis_configured(self) -> bool:
        return bool(self.settings.redis_url)

    # --- Keepa ------------------------------------------------------------------------

    def http(self) -> KeepaHTTP | None:
        if self._http is not None or KEEPA in self._tried:
            return self._http
        self._tried.add(KEEPA)
        from keepa_deals.keepa import build_http

        try:
            self._http = build_http(self.settings, retries=1)
        except KeepaDealsError as exc:
            self.keepa_error = exc
            self.errors[KEEPA] = str(exc)
        return self._http

    def keepa_probe(self) -> KeepaProbe | None:
        """One ``/token`` call per Sources (free; never repeated), or None."""
        if self._probe is not None or f"{KEEPA}-probe" in self._tried:
            return self._probe
        self._tried.add(f"{KEEPA}-probe")
        try:
            self._probe = self._call_token()
        except KeepaDealsError as exc:
            self.keepa_error = exc
            self.errors[KEEPA] = str(exc)
        return self._probe

    @property
    def key_refused(self) -> bool:
        """True when Keepa answered the probe by refusing the key (400 bad key, 402 no plan)."""
        from keepa_deals.keepa.errors import InvalidKey, PaymentRequired

        return isinstance(self.keepa_error, InvalidKey | PaymentRequired)

    def _call_token(self) -> KeepaProbe:
        http = self.http()
        if http is None:
            raise KeepaDealsError(self.errors.get(KEEPA, "no Keepa client"))
        sent = self.now_ms()
        status = http.token_status()
        return KeepaProbe(status, sent, self.now_ms())

    def _token_status(self) -> TokenStatus:
        """The manager's sync: a fresh /token call (a repair must not reuse an old answer)."""
        probe = self._call_token()
        self._probe = probe
        return probe.status

    # --- closing ------------------------------------------------------------------------

    def close(self) -> None:
        if self._deal_store is not None and self._owns_deal_store:
            self._deal_store.close()
        if self._budget_store is not None and self._owns_budget_store:
            _quietly(self._budget_store.close)
        if self._redis is not None:
            _quietly(self._redis.close)
        if self._http is not None and self._owns_http:
            _quietly(self._http.close)


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # closing is best effort
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
