"""Keepa's csv types: the indices of ``csv``, ``stats.current``, ``deal.current``...

From section 4 of the Keepa facts (Java ``Product.CsvType``).  Every array
Keepa indexes "by csv type" is read through these names, e.g.
``deal.current["USED"]`` or ``product.stats.avg90[CsvType.NEW]``.
"""

from __future__ import annotations

from enum import IntEnum


class CsvType(IntEnum):
    AMAZON = 0
    NEW = 1
    USED = 2
    SALES = 3
    LISTPRICE = 4
    COLLECTIBLE = 5
    REFURBISHED = 6
    NEW_FBM_SHIPPING = 7
    LIGHTNING_DEAL = 8
    WAREHOUSE = 9
    NEW_FBA = 10
    COUNT_NEW = 11
    COUNT_USED = 12
    COUNT_REFURBISHED = 13
    COUNT_COLLECTIBLE = 14
    EXTRA_INFO_UPDATES = 15
    RATING = 16
    COUNT_REVIEWS = 17
    BUY_BOX_SHIPPING = 18
    USED_NEW_SHIPPING = 19
    USED_VERY_GOOD_SHIPPING = 20
    USED_GOOD_SHIPPING = 21
    USED_ACCEPTABLE_SHIPPING = 22
    COLLECTIBLE_NEW_SHIPPING = 23
    COLLECTIBLE_VERY_GOOD_SHIPPING = 24
    COLLECTIBLE_GOOD_SHIPPING = 25
    COLLECTIBLE_ACCEPTABLE_SHIPPING = 26
    REFURBISHED_SHIPPING = 27
    EBAY_NEW_SHIPPING = 28
    EBAY_USED_SHIPPING = 29
    TRADE_IN = 30
    RENT = 31
    BUY_BOX_USED_SHIPPING = 32
    PRIME_EXCL = 33
    COUNT_NEW_FBA = 34
    COUNT_NEW_FBM = 35


#: Types whose ``csv`` history is triplets ``[t, price, shipping, ...]``.
SHIPPING_TYPES: frozenset[CsvType] = frozenset(
    t for t in CsvType if t.name.endswith("_SHIPPING")
)

#: Types that are prices (integer cents; -1 = no offer).
PRICE_TYPES: frozenset[CsvType] = frozenset(CsvType) - {
    CsvType.SALES,
    CsvType.COUNT_NEW,
    CsvType.COUNT_USED,
    CsvType.COUNT_REFURBISHED,
    CsvType.COUNT_COLLECTIBLE,
    CsvType.EXTRA_INFO_UPDATES,
    CsvType.RATING,
    CsvType.COUNT_REVIEWS,
    CsvType.COUNT_NEW_FBA,
    CsvType.COUNT_NEW_FBM,
}

#: The ``priceTypes`` a /deal selection accepts (exactly one of them per query).
DEAL_PRICE_TYPES: frozenset[int] = frozenset(
    {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 18, 19, 20, 21, 22, 32, 33}
)

_BY_NAME: dict[str, CsvType] = {t.name: t for t in CsvType}


def csv_index(key: int | str) -> int:
    """The array index for a csv type given as a ``CsvType``, an int or a name.

    Names are case-insensitive (``"used"``, ``"USED"``).  Raises ``KeyError``
    for a name or index that is not a csv type.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        if 0 <= key < len(_BY_NAME):
            return int(key)
        raise KeyError(key)
    if isinstance(key, str):
        found = _BY_NAME.get(key.upper())
        if found is not None:
            return int(found)
    raise KeyError(key)
