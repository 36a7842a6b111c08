"""Amazon's marketplaces as Keepa numbers them: the site, the currency, whether prices hold VAT.

Keepa gives every price in the marketplace's smallest currency unit (cents,
pence, yen); a stored deal carries the currency code with its prices.
Prices in the European and other VAT marketplaces are VAT-inclusive, as the
buyer sees them (docs/profit.md says what the profit model makes of that).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Marketplace:
    domain_id: int
    #: Short name used in query files (``[profit.marketplace.GB]``).
    code: str
    host: str
    currency: str
    #: Prices include VAT at this rate (percent); 0 where listed prices are net of tax.
    vat_percent: float


MARKETPLACES: dict[int, Marketplace] = {m.domain_id: m for m in (
    Marketplace(1, "US", "amazon.com", "USD", 0.0),
    Marketplace(2, "GB", "amazon.co.uk", "GBP", 20.0),
    Marketplace(3, "DE", "amazon.de", "EUR", 19.0),
    Marketplace(4, "FR", "amazon.fr", "EUR", 20.0),
    Marketplace(5, "JP", "amazon.co.jp", "JPY", 10.0),
    Marketplace(6, "CA", "amazon.ca", "CAD", 0.0),
    Marketplace(8, "IT", "amazon.it", "EUR", 22.0),
    Marketplace(9, "ES", "amazon.es", "EUR", 21.0),
    Marketplace(10, "IN", "amazon.in", "INR", 18.0),
    Marketplace(11, "MX", "amazon.com.mx", "MXN", 16.0),
    Marketplace(12, "BR", "amazon.com.br", "BRL", 0.0),
)}
BY_CODE: dict[str, Marketplace] = {m.code: m for m in MARKETPLACES.values()}


def currency_of(domain_id: int) -> str | None:
    m = MARKETPLACES.get(domain_id)
    return m.currency if m else None


__all__ = ["BY_CODE", "MARKETPLACES", "Marketplace", "currency_of"]
