"""The sandbox's product universe: a few thousand products drawn from a seed.

Mostly books (root category 283155) with a few other categories.  Each
:class:`ProductSpec` holds a product's normal state: prices in cents, their
30/90/180/365-day averages, the sales rank and its drops, offer counts (new
FBA, new FBM, used), Amazon in stock or not, the referral fee percentage and
the FBA pick-and-pack fee.  Deal events (see :mod:`.catalog`) move prices away
from the normal state; everything else stays as drawn here.

Values are indexed by csv type, as Keepa indexes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import string
from dataclasses import dataclass
from functools import lru_cache

from keepa_deals.codes import gtin_check_digit, isbn10_check_digit
from keepa_deals.keepa.csvtypes import CsvType
from keepa_deals.sandbox.marketplaces import (
    BOOKS_KIND,
    ELECTRONICS_KIND,
    GAMES_KIND,
    HOME_KIND,
    KIND_WEIGHTS,
    MUSIC_KIND,
    TOYS_KIND,
    MARKETPLACES,
    US,
    Marketplace,
    RootCategory,
)

# csv types the universe has data for (see section 4 of the Keepa facts).
AMAZON, NEW, USED, SALES, LISTPRICE = (
    CsvType.AMAZON, CsvType.NEW, CsvType.USED, CsvType.SALES, CsvType.LISTPRICE)
COUNT_NEW, COUNT_USED, RATING, COUNT_REVIEWS = (
    CsvType.COUNT_NEW, CsvType.COUNT_USED, CsvType.RATING, CsvType.COUNT_REVIEWS)
COUNT_NEW_FBA, COUNT_NEW_FBM = CsvType.COUNT_NEW_FBA, CsvType.COUNT_NEW_FBM
CSV_TYPES = len(CsvType)

BOOKS = US.books

_ADJ = ("Silent", "Hidden", "Broken", "Golden", "Last", "Wild", "Secret", "Lost", "Burning",
        "Quiet", "Bright", "Dark", "Little", "Forgotten", "Endless", "Crimson", "Northern",
        "Winter", "Summer", "Distant", "Practical", "Complete", "Essential", "Modern")
_NOUN = ("River", "Garden", "Kingdom", "House", "Empire", "Mountain", "Sea", "Promise",
         "Machine", "Island", "Letters", "Road", "Memory", "Storm", "Orchard", "Station",
         "Algorithm", "Kitchen", "Mind", "Atlas", "Compass", "Harvest", "Signal", "Theory")
_SUFFIX = ("", "", "", ": A Novel", " (Book 2)", ": A Memoir", ", 3rd Edition",
           ": A Practical Guide", " (Paperback)", ": Stories")
_BRANDS = ("Acme", "Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark", "Wayne")
_ITEMS = {
    ELECTRONICS_KIND: ("Wireless Earbuds", "USB-C Hub", "Portable SSD", "Webcam", "Keyboard"),
    HOME_KIND: ("Chef's Knife", "Cast Iron Skillet", "French Press", "Throw Blanket", "Desk Lamp"),
    TOYS_KIND: ("Building Set", "Puzzle 1000 Pieces", "Board Game", "Plush Bear", "Card Game"),
    GAMES_KIND: ("Controller", "Adventure Game", "Racing Game", "Charging Dock"),
    MUSIC_KIND: ("Greatest Hits", "Live Album", "Remastered LP", "Box Set"),
}

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A product's identity and normal state (before any deal event)."""

    index: int
    asin: str
    title: str
    root_category: int
    categories: tuple[int, ...]
    product_group: str
    brand: str
    image: str
    #: Current value per csv type when no deal is on (-1: no offer / no data).
    normal: tuple[int, ...]
    #: (avg30, avg90, avg180, avg365) per csv type; -1 where there is no data.
    avgs: tuple[tuple[int, int, int, int], ...]
    rank_drops: tuple[int, int, int, int]
    amazon_oos_pct90: int
    used_fba: int
    referral_fee_pct: int
    pick_and_pack_fee: int
    rating_fresh: bool
    monthly_sold: int
    #: How long before the catalog's start the product's normal prices were set.
    since_ms: int
    tracking_since_ms: int
    #: The product's EAN-13 (for a book its ISBN-13, from the ASIN when that is an ISBN-10).
    ean: str
    #: Keepa domain id of the marketplace the product is listed in.
    domain: int = 1
    #: A UPC-12 (products other than books); duplicate listings share one.
    upc: str | None = None
    is_book: bool = True
    #: Stock data (``stock=1`` with ``offers``) updated less than 7 days ago.
    stock_fresh: bool = True

    @property
    def has_amazon(self) -> bool:
        return self.normal[AMAZON] > 0

    def deal_types(self) -> tuple[int, ...]:
        """The price types a deal event can lower for this product."""
        return tuple(t for t in (AMAZON, NEW, USED) if self.normal[t] > 0)


def _isbn10(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(9)]
    digits[0] = rng.choice((0, 0, 0, 1, 1, 0, 3, 0))
    check = (11 - sum((10 - i) * d for i, d in enumerate(digits)) % 11) % 11
    return "".join(map(str, digits)) + ("X" if check == 10 else str(check))


def _b0_asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def _ean13(rng: random.Random) -> str:
    body = "978" + "".join(str(rng.randrange(10)) for _ in range(9))
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - s % 10) % 10)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _avgs_around(rng: random.Random, value: int, spread: float) -> tuple[int, int, int, int]:
    """Averages over 30/90/180/365 days that drift further from ``value`` the longer the span."""
    if value <= 0:
        return (-1, -1, -1, -1)
    out = []
    for k in (1.0, 1.6, 2.2, 3.0):
        out.append(max(1, round(value * (1 + rng.uniform(-0.4 * spread, spread) * k))))
    return (out[0], out[1], out[2], out[3])


def _counts(rng: random.Random, popularity: float, is_book: bool) -> tuple[int, int, int]:
    """(new FBA, new FBM, used) offer counts; at least one offer in all."""
    new_fba = int(rng.random() * (3 + 8 * popularity))
    new_fbm = int(rng.random() * (4 + 22 * popularity))
    used = int(rng.random() * (2 + 55 * popularity)) if is_book else int(rng.random() * 4)
    if rng.random() < 0.08:
        new_fba = new_fbm = 0
    if new_fba + new_fbm + used == 0:
        used = 1
    return new_fba, new_fbm, used


def _product(index: int, asin: str, root: RootCategory, rng: random.Random, start_ms: int,
             market: Marketplace = US) -> ProductSpec:
    is_book = root.kind == BOOKS_KIND
    scale = market.price_scale
    cats = tuple(rng.sample(sorted(c for c, _ in root.subs), k=1 if rng.random() < 0.7 else 2))
    if is_book:
        title = f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}{rng.choice(_SUFFIX)}"
        brand = f"{rng.choice(('Penguin', 'Vintage', 'Orbit', 'Tor', 'Norton', 'Wiley', 'Scribner'))}"
        group = "Book"
        kind = rng.random()
        if kind < 0.12:
            list_price = rng.randrange(4999, 19999)  # textbook
        elif kind < 0.4:
            list_price = rng.randrange(1999, 3999)  # hardcover
        else:
            list_price = rng.randrange(899, 2499)  # paperback
        rank = round(_log_uniform(rng, 3_000, 8_000_000))
        amazon_p = 0.5
    else:
        brand, item, adj = rng.choice(_BRANDS), rng.choice(_ITEMS[root.kind]), rng.choice(_ADJ)
        title = f"{brand} {item} {adj} {rng.randrange(100, 999)}"
        brand = title.split()[0]
        group = root.name
        list_price = rng.randrange(1299, 24999)
        rank = round(_log_uniform(rng, 300, 900_000))
        amazon_p = 0.6
    if scale != 1.0:
        list_price = max(1, round(list_price * scale))
    popularity = max(0.0, min(1.0, 1 - math.log10(rank) / 6.7))
    new_fba, new_fbm, used = _counts(rng, popularity, is_book)
    new_count = new_fba + new_fbm

    normal = [-1] * CSV_TYPES
    normal[LISTPRICE] = list_price
    normal[SALES] = rank
    new_price = round(list_price * rng.uniform(0.45, 1.0)) if new_count else -1
    normal[NEW] = new_price
    if used:
        base = new_price if new_price > 0 else list_price
        normal[USED] = max(99, round(base * rng.uniform(0.1, 0.95)))
    amazon_in_stock = new_count > 0 and rng.random() < amazon_p
    normal[AMAZON] = max(new_price, round(list_price * rng.uniform(0.7, 1.0))) if amazon_in_stock else -1
    normal[COUNT_NEW] = new_count
    normal[COUNT_USED] = used
    normal[COUNT_NEW_FBA] = new_fba
    normal[COUNT_NEW_FBM] = new_fbm
    normal[RATING] = rng.randrange(30, 51)
    normal[COUNT_REVIEWS] = int(_log_uniform(rng, 1, 20_000) * popularity)

    avgs: list[tuple[int, int, int, int]] = [(-1, -1, -1, -1)] * CSV_TYPES
    for t in (NEW, USED):
        avgs[t] = _avgs_around(rng, normal[t], 0.25)
    if amazon_in_stock:
        avgs[AMAZON] = _avgs_around(rng, normal[AMAZON], 0.15)
    elif rng.random() < 0.4:  # Amazon sold it until some time ago
        avgs[AMAZON] = (-1, -1, *_avgs_around(rng, list_price, 0.1)[2:])
    avgs[SALES] = _avgs_around(rng, rank, 0.5)
    avgs[LISTPRICE] = (list_price,) * 4
    for t in (COUNT_NEW, COUNT_USED, COUNT_NEW_FBA, COUNT_NEW_FBM, RATING, COUNT_REVIEWS):
        v = normal[t]
        avgs[t] = (v, v, v, v) if v >= 0 else (-1, -1, -1, -1)

    lam30 = 250_000 / rank * rng.uniform(0.3, 1.7)
    drops30 = min(int(lam30 + rng.random()), 400)
    drops90 = min(int(lam30 * 3 * rng.uniform(0.7, 1.3) + rng.random()), 1200)
    drops180 = int(drops90 * 2 * rng.uniform(0.8, 1.2) + rng.random())
    drops365 = int(drops180 * 2 * rng.uniform(0.8, 1.2) + rng.random())
    monthly_sold = 0 if drops30 < 20 else (drops30 // 10) * 10 * rng.choice((1, 2, 3))

    image = "".join(rng.choices(string.ascii_letters + string.digits, k=10)) + "L.jpg"
    return ProductSpec(
        index=index,
        asin=asin,
        title=title,
        root_category=root.id,
        categories=cats,
        product_group=group,
        brand=brand,
        image="51" + image,
        normal=tuple(normal),
        avgs=tuple(avgs),
        rank_drops=(drops30, max(drops30, drops90), max(drops90, drops180), max(drops180, drops365)),
        amazon_oos_pct90=rng.randrange(0, 25) if amazon_in_stock else rng.randrange(70, 101),
        used_fba=min(used, int(rng.random() * 4)),
        referral_fee_pct=8 if root.kind == ELECTRONICS_KIND else 15,
        pick_and_pack_fee=_scaled(rng.randrange(306, 420) if is_book else rng.randrange(350, 950), scale),
        rating_fresh=rng.random() < 0.7,
        monthly_sold=monthly_sold,
        since_ms=rng.randrange(1, 20) * DAY_MS,
        tracking_since_ms=start_ms - rng.randrange(200, 3000) * DAY_MS,
        ean=_ean_for(asin, _ean13(rng)),  # the draw keeps the stream as it was
        domain=market.domain,
        is_book=is_book,
        stock_fresh=_hash_fraction(f"stock:{market.domain}:{asin}") < 0.8,
    )


def _scaled(value: int, scale: float) -> int:
    return value if scale == 1.0 else max(1, round(value * scale))


def _hash_fraction(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (draws nothing from the universe's stream)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / float(16**12)


def is_isbn10(code: str) -> bool:
    """Ten characters, nine digits and a digit or X, with a valid check digit."""
    if len(code) != 10 or not code[:9].isdigit() or not (code[9].isdigit() or code[9] in "Xx"):
        return False
    return isbn10_check_digit(code[:9]) == code[9].upper()


def ean_check_digit(body: str) -> str:
    """The check digit of a 12-digit EAN body (or 11-digit UPC body)."""
    return str(gtin_check_digit(body))


def isbn10_to_13(isbn10: str) -> str:
    body = "978" + isbn10[:9]
    return body + ean_check_digit(body)


def _ean_for(asin: str, drawn: str) -> str:
    """A book's EAN is its ISBN-13, which follows from its ISBN-10 ASIN."""
    return isbn10_to_13(asin) if is_isbn10(asin) else drawn


def _upc(text: str) -> str:
    body = str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) % 10**11).rjust(11, "0")
    body = "8" + body[1:]  # a number-system digit no sandbox EAN (978…) shares
    return body + ean_check_digit("0" + body)


def _with_codes(spec: ProductSpec, previous: ProductSpec | None) -> ProductSpec:
    """Give a non-book its UPC: one in 20 is a duplicate listing of the previous non-book."""
    if spec.is_book:
        return spec
    if previous is not None and previous.upc and _hash_fraction(f"dup:{spec.domain}:{spec.asin}") < 0.05:
        upc = previous.upc
    else:
        upc = _upc(f"upc:{spec.domain}:{spec.asin}")
    return dataclasses.replace(spec, upc=upc, ean="0" + upc)


@lru_cache(maxsize=8)
def build_universe(seed: int, size: int, start_ms: int, domain: int = 1) -> tuple[ProductSpec, ...]:
    """``size`` products of the marketplace ``domain``, drawn from ``seed``; times relative to ``start_ms``.

    The amazon.com universe is drawn from the seed alone (as it always was);
    other marketplaces from the seed and their domain id.
    """
    market = MARKETPLACES[domain]
    rng = random.Random(f"keepa-sandbox:{seed}:universe" + ("" if domain == 1 else f":{domain}"))
    seen: set[str] = set()
    products: list[ProductSpec] = []
    previous: ProductSpec | None = None
    while len(products) < size:
        kind = rng.choices(range(len(KIND_WEIGHTS)), KIND_WEIGHTS)[0]
        asin = _isbn10(rng) if kind == BOOKS_KIND else _b0_asin(rng)
        if asin in seen:
            continue
        seen.add(asin)
        spec = _with_codes(_product(len(products), asin, market.root(kind), rng, start_ms, market), previous)
        if not spec.is_book:
            previous = spec
        products.append(spec)
    return tuple(products)
