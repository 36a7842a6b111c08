"""Recorded-shape Keepa bodies for parser tests (values as Keepa sends them)."""

from __future__ import annotations

import copy
from typing import Any

N = 36  # csv types

# 2026-01-01T00:00Z in Keepa minutes: 1767225600000 / 60000 - 21564000
JAN_2026 = 7_889_760


def _row(**by_index: int) -> list[int]:
    row = [-1] * N
    for k, v in by_index.items():
        row[int(k.lstrip("i"))] = v
    return row


DEAL: dict[str, Any] = {
    "asin": "B00TEST001",
    "parentAsin": None,
    "title": "A Book About Deals",
    "rootCat": 283155,
    "categories": [283155, 1000],
    "image": list(b"51abcDEF.jpg"),
    "current": _row(i0=-1, i1=1999, i2=1250, i3=45_000, i11=7),
    "currentSince": _row(i2=JAN_2026 - 60),
    "deltaLast": _row(i2=-1, i1=150),
    "avg": [_row(i2=1300), _row(i2=1500), _row(i2=1700, i1=2100), _row(i2=-2)],
    "delta": [_row(i2=50), _row(i2=250), _row(i2=450), _row(i2=-1)],
    "deltaPercent": [_row(i2=4), _row(i2=17), _row(i2=26), _row(i2=0)],
    "lastUpdate": JAN_2026,
    "creationDate": JAN_2026 - 120,
    "lightningEnd": 0,
    "warehouseCondition": 0,
    "warehouseConditionComment": None,
}


def deal(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DEAL)
    d.update(changes)
    return d


def deal_body(n: int = 2, **envelope: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": 1_767_225_600_000,
        "tokensLeft": 95,
        "refillIn": 31_000,
        "refillRate": 20,
        "tokenFlowReduction": 0.0,
        "tokensConsumed": 5,
        "processingTimeInMs": 12,
        "deals": {
            "dr": [deal(asin=f"B00TEST{i:03d}") for i in range(n)],
            "categoryIds": [283155, 9223372036854775807],
            "categoryNames": ["Books", "?"],
            "categoryCount": [n, 0],
        },
    }
    body.update(envelope)
    return body


PRODUCT: dict[str, Any] = {
    "asin": "B00PROD001",
    "domainId": 1,
    "title": "A Product",
    "parentAsin": None,
    "brand": "Acme",
    "manufacturer": "Acme Inc",
    "productGroup": "Book",
    "productType": 0,
    "rootCategory": 283155,
    "categories": [283155, 5],
    "salesRankReference": 283155,
    "salesRanks": {"283155": [JAN_2026 - 100, 5000, JAN_2026, 4200]},
    "trackingSince": JAN_2026 - 500_000,
    "listedSince": 0,
    "lastUpdate": JAN_2026,
    "lastPriceChange": JAN_2026 - 30,
    "availabilityAmazon": -1,
    "monthlySold": 0,
    "fbaFees": {"pickAndPackFee": 322, "lastUpdate": JAN_2026},
    "referralFeePercentage": 15.0,
    "csv": [
        [JAN_2026 - 20, 1999, JAN_2026 - 10, -1],  # AMAZON
        None,  # NEW
        [JAN_2026 - 20, 1250],  # USED
    ] + [None] * 4 + [
        [JAN_2026 - 5, 1500, 399, JAN_2026, 1400, 0],  # NEW_FBM_SHIPPING (triplets)
    ] + [None] * 28,
    "stats": {
        "current": _row(i1=1999, i2=1250, i3=4200, i11=3),
        "avg": _row(i2=1300),
        "avg30": _row(i2=1300),
        "avg90": _row(i2=1400, i1=2100),
        "avg180": _row(i2=-2),
        "avg365": _row(i2=1600),
        "salesRankDrops30": 12,
        "salesRankDrops90": 40,
        "salesRankDrops180": -1,
        "salesRankDrops365": 150,
        "totalOfferCount": 9,
        "offerCountFBA": 2,
        "offerCountFBM": -2,
        "buyBoxPrice": 1999,
        "buyBoxShipping": 0,
        "buyBoxSellerId": "ATVPDKIKX0DER",
        "buyBoxIsFBA": True,
        "buyBoxIsAmazon": True,
        "lastOffersUpdate": JAN_2026 - 3,
    },
    "offers": [
        {"offerId": 0, "sellerId": "A1", "condition": 3, "conditionComment": "ok",
         "offerCSV": [JAN_2026 - 100, 1300, 399, JAN_2026 - 3, 1250, 0],
         "lastSeen": JAN_2026 - 3, "isFBA": True, "isPrime": True, "isAmazon": False,
         "isPrimeExcl": False, "isWarehouseDeal": False, "isShippable": True},
        {"offerId": 1, "sellerId": "A2", "condition": 1,
         "offerCSV": [JAN_2026 - 50, 2000, -1],
         "lastSeen": JAN_2026 - 50, "isFBA": False, "isPrime": False, "isAmazon": False,
         "isShippable": False},
    ],
    "liveOffersOrder": [0],
}


def product(**changes: Any) -> dict[str, Any]:
    p = copy.deepcopy(PRODUCT)
    p.update(changes)
    return p
