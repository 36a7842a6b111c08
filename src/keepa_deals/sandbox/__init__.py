"""The sandbox Keepa server: Keepa's API, token economics and failure modes, offline.

A faithful simulator of section 7 of the Keepa facts, for the demo, the tests
and the benchmarks (see docs/sandbox.md): the deal feed, products by ASIN or
barcode, Product Finder, best sellers, sellers and categories, for the
amazon.com, amazon.co.uk and amazon.de worlds::

    from keepa_deals.clock import FakeClock
    from keepa_deals.sandbox import DEMO_KEY, Sandbox, SandboxServer

    sandbox = Sandbox(clock=FakeClock())
    sandbox.add_account(key, tokens=100, refill_rate=5, phase_ms=0)
    with SandboxServer(sandbox) as server:
        ...  # point the client at server.url
        sandbox.clock.advance(60_000)      # one refill
        sandbox.account(key).min_balance   # counters for assertions
"""

from keepa_deals.sandbox.accounts import DEMO_KEY, AccountState, fingerprint, is_well_formed_key
from keepa_deals.sandbox.app import create_sandbox_app
from keepa_deals.sandbox.catalog import Catalog, CatalogConfig, DealEvent, ProductState
from keepa_deals.sandbox.faults import FaultConfig, Faults
from keepa_deals.sandbox.marketplaces import MARKETPLACES, Marketplace
from keepa_deals.sandbox.sandbox import DEMO_RATE, DEMO_TOKENS, Sandbox, UnknownAccount
from keepa_deals.sandbox.server import SandboxServer, serve

__all__ = [
    "DEMO_KEY",
    "DEMO_RATE",
    "DEMO_TOKENS",
    "AccountState",
    "Catalog",
    "CatalogConfig",
    "DealEvent",
    "FaultConfig",
    "Faults",
    "MARKETPLACES",
    "Marketplace",
    "ProductState",
    "Sandbox",
    "SandboxServer",
    "UnknownAccount",
    "create_sandbox_app",
    "fingerprint",
    "is_well_formed_key",
    "serve",
]
