"""The in-process sandbox: clock, accounts, catalog and faults, and their controls.

Tests hold a :class:`Sandbox` and drive it directly (``clock.advance``,
``update_account``, ``set_faults``); a process serving it is driven through
the admin endpoints (see :mod:`.admin`), which call the same methods.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.sandbox.accounts import (
    DEMO_KEY,
    MINUTE_MS,
    Account,
    AccountBook,
    AccountState,
    cap_for,
)
from keepa_deals.sandbox.catalog import Catalog, CatalogConfig
from keepa_deals.sandbox.faults import FaultConfig, Faults
from keepa_deals.sandbox.marketplaces import MARKETPLACES

#: The demo account's plan: 20 tokens a minute, starting with a full bucket.
DEMO_RATE = 20
DEMO_TOKENS = cap_for(DEMO_RATE)


def default_phase_ms(key: str) -> int:
    """A key's refill phase when none is given: stable, and not on the minute."""
    return int(hashlib.sha256(b"phase:" + key.encode()).hexdigest()[:8], 16) % MINUTE_MS


class UnknownAccount(KeyError):
    """No account for that key (or fingerprint)."""


class Sandbox:
    """A Keepa look-alike held in memory; serve it with :class:`SandboxServer`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        catalog: CatalogConfig | None = None,
        faults: FaultConfig | None = None,
        demo_account: bool = True,
        demo_tokens: int = DEMO_TOKENS,
        demo_rate: int = DEMO_RATE,
    ) -> None:
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.accounts = AccountBook()
        #: The amazon.com catalogue; the other marketplaces' are built on first use.
        self.catalog = Catalog(catalog or CatalogConfig(seed=seed), start_ms=self.clock.now_ms())
        self._catalogs: dict[int, Catalog] = {self.catalog.domain: self.catalog}
        self._catalogs_lock = threading.Lock()
        self.faults = Faults(faults)
        if demo_account:
            self.add_account(DEMO_KEY, tokens=demo_tokens, refill_rate=demo_rate)

    def __repr__(self) -> str:
        return f"Sandbox({self.catalog!r}, {self.accounts!r})"

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def catalog_for(self, domain: int) -> Catalog | None:
        """The catalogue of a marketplace (same configuration and start as the
        amazon.com one, its own products and events), or None for a locale the
        sandbox has no world for."""
        if domain not in MARKETPLACES:
            return None
        with self._catalogs_lock:
            found = self._catalogs.get(domain)
            if found is None:
                found = Catalog(self.catalog.config, start_ms=self.catalog.start_ms, domain=domain)
                self._catalogs[domain] = found
            return found

    # --- accounts ------------------------------------------------------------
    def add_account(
        self,
        key: str,
        *,
        tokens: int,
        refill_rate: int = DEMO_RATE,
        token_flow_reduction: float = 0.0,
        phase_ms: int | None = None,
        cap: int | None = None,
        floor: int | None = None,
        expired: bool = False,
    ) -> AccountState:
        """Create (or replace) the account of ``key``; counters start at zero.

        ``phase_ms`` is when in the minute refills happen (``t % 60000``);
        by default a value derived from the key.  ``cap`` defaults to 60 ×
        rate; ``floor`` (off by default) is a balance charges never go below.
        """
        now = self.now_ms()
        account = self.accounts.create(
            key, now, tokens=tokens, refill_rate=refill_rate,
            token_flow_reduction=token_flow_reduction,
            phase_ms=default_phase_ms(key) if phase_ms is None else phase_ms,
            cap=cap, floor=floor, expired=expired,
        )
        return account.state(now)

    def _get(self, key: str) -> Account:
        account = self.accounts.get(key)
        if account is None:
            raise UnknownAccount("no sandbox account for that key")
        return account

    def _by_fingerprint(self, fp: str) -> Account:
        account = self.accounts.by_fingerprint(fp)
        if account is None:
            raise UnknownAccount(f"no sandbox account {fp}")
        return account

    def account(self, key: str) -> AccountState:
        """The account of ``key``, refilled up to now."""
        return self._get(key).state(self.now_ms())

    def account_by_fingerprint(self, fp: str) -> AccountState:
        return self._by_fingerprint(fp).state(self.now_ms())

    def purchase_log_by_fingerprint(self, fp: str) -> list[dict[str, Any]]:
        """The account's charged product calls, oldest first (what Keepa billed for)."""
        return self._by_fingerprint(fp).purchase_log()

    def update_account(self, key: str, **changes: Any) -> AccountState:
        """Change an account from now on: ``tokens``, ``refill_rate`` (a plan
        change), ``token_flow_reduction``, ``phase_ms``, ``cap``, ``floor``,
        ``expired``; ``cap=None`` / ``floor=None`` restore the defaults."""
        return self._update(self._get(key), changes)

    def update_account_by_fingerprint(self, fp: str, **changes: Any) -> AccountState:
        return self._update(self._by_fingerprint(fp), changes)

    def _update(self, account: Account, changes: dict[str, Any]) -> AccountState:
        allowed = {"tokens", "refill_rate", "token_flow_reduction", "phase_ms", "cap", "floor", "expired"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"unknown account fields: {sorted(unknown)}")
        now = self.now_ms()
        kwargs = dict(changes)
        for name in ("cap", "floor"):
            if name in kwargs and kwargs[name] is None:
                del kwargs[name]
                kwargs[f"clear_{name}"] = True
        account.update(now, **kwargs)
        return account.state(now)

    def remove_account(self, key: str) -> None:
        if not self.accounts.remove(key):
            raise UnknownAccount("no sandbox account for that key")

    def remove_account_by_fingerprint(self, fp: str) -> None:
        if not self.accounts.remove_by_fingerprint(fp):
            raise UnknownAccount(f"no sandbox account {fp}")

    def all_accounts(self) -> list[AccountState]:
        now = self.now_ms()
        return [a.state(now) for a in self.accounts.all()]

    # --- faults --------------------------------------------------------------
    def set_faults(self, config: FaultConfig | None = None, **fields: Any) -> FaultConfig:
        """Replace the fault configuration (a FaultConfig, or its fields)."""
        if config is None:
            config = FaultConfig(**fields)
        elif fields:
            config = FaultConfig.model_validate({**config.model_dump(), **fields})
        self.faults.configure(config)
        return config

    def clear_faults(self) -> None:
        self.faults.configure(FaultConfig())

    # --- views ---------------------------------------------------------------
    def _marketplaces(self, now: int) -> dict[str, Any]:
        """Each marketplace: its currency, and its catalogue's summary once built."""
        with self._catalogs_lock:
            built = dict(self._catalogs)
        return {
            m.code: {"domain": d, "host": m.host, "currency": m.currency,
                     "catalog": built[d].summary(now) if d in built else None}
            for d, m in MARKETPLACES.items()
        }

    def state(self) -> dict[str, Any]:
        """Everything an admin view shows; keys appear only as fingerprints."""
        now = self.now_ms()
        return {
            "now_ms": now,
            "accounts": [a.as_dict() for a in self.all_accounts()],
            "faults": self.faults.as_dict(),
            "catalog": self.catalog.summary(now),
            "marketplaces": self._marketplaces(now),
        }
