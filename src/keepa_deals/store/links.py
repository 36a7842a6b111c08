"""Links derived from (ASIN, domain): nothing here is stored."""

from __future__ import annotations

#: Keepa domain id → Amazon host (7, the former amazon.cn, is not supported).
AMAZON_HOSTS: dict[int, str] = {
    1: "www.amazon.com",
    2: "www.amazon.co.uk",
    3: "www.amazon.de",
    4: "www.amazon.fr",
    5: "www.amazon.co.jp",
    6: "www.amazon.ca",
    8: "www.amazon.it",
    9: "www.amazon.es",
    10: "www.amazon.in",
    11: "www.amazon.com.mx",
    12: "www.amazon.com.br",
}

IMAGE_BASE = "https://m.media-amazon.com/images/I/"


def amazon_url(asin: str, domain_id: int) -> str:
    host = AMAZON_HOSTS.get(domain_id, AMAZON_HOSTS[1])
    return f"https://{host}/dp/{asin}"


def keepa_url(asin: str, domain_id: int) -> str:
    return f"https://keepa.com/#!product/{domain_id}-{asin}"


def image_url(name: str | None) -> str | None:
    """The Amazon image URL for a Keepa image file name (``"51abc.jpg"``)."""
    if not name:
        return None
    return IMAGE_BASE + name


#: Keepa csv type of a deal's price → Amazon's offer-listing condition filter.
_CONDITION_FILTERS: dict[int, str] = {
    1: "new", 7: "new", 10: "new", 33: "new",                        # NEW, FBM, FBA, prime excl.
    2: "used", 19: "used", 20: "used", 21: "used", 22: "used", 32: "used", 9: "used",
    5: "collectible", 23: "collectible", 24: "collectible", 25: "collectible",
    26: "collectible",
    6: "refurbished", 27: "refurbished",
}


def buy_url(asin: str, domain_id: int, price_type: int | None) -> str:
    """Where to buy it: Amazon's offer listing of the deal's condition (its product page
    for Amazon's own offer or an unknown price type)."""
    condition = _CONDITION_FILTERS.get(price_type) if price_type is not None else None
    if condition is None:
        return amazon_url(asin, domain_id)
    host = AMAZON_HOSTS.get(domain_id, AMAZON_HOSTS[1])
    return f"https://{host}/gp/offer-listing/{asin}/?f_{condition}=true"
