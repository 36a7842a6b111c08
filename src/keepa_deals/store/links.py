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
