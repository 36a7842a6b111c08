"""Typed Keepa results: deals, products, offers, with hand-written parsers.

Conventions, everywhere:

* Keepa minutes become aware UTC datetimes; 0 and negative sentinels None.
* Prices stay integer cents (yen for JP).  -1 ("no offer") and -2 ("not
  set") become None, except in deltas, where -1 is a real difference.
* Arrays indexed by csv type are read by name: ``deal.current["USED"]``,
  ``deal.avg[DateRange.WEEK]["USED"]``, ``product.stats.avg90["NEW"]``;
  ``product.csv["USED"]`` is parsed into (datetime, value) points on first read.
* ``raw`` keeps the decoded JSON object.
* A body of the wrong shape raises MalformedResponse naming the place.

The parsers are plain functions over dicts (no validation library per deal):
ingestion parses thousands of deals a second.
"""

from keepa_deals.keepa.csvtypes import CsvType
from keepa_deals.keepa.deals import DEALS_PER_PAGE, Deal, DealPage, parse_deal, parse_deal_page
from keepa_deals.keepa.lookups import BestSellerList, Categories, Category, FinderPage, Seller
from keepa_deals.keepa.products import (
    AmazonAvailability,
    Offer,
    OfferCondition,
    Product,
    ProductBatch,
    SalesRanks,
    Stats,
    parse_offer,
    parse_product,
    parse_product_batch,
    parse_stats,
)
from keepa_deals.keepa.series import ByDateRange, CsvHistory, CsvPoint, CsvValues
from keepa_deals.keepa.validation import DateRange

__all__ = [
    "DEALS_PER_PAGE",
    "AmazonAvailability",
    "BestSellerList",
    "Categories",
    "Category",
    "FinderPage",
    "Seller",
    "ByDateRange",
    "CsvHistory",
    "CsvPoint",
    "CsvType",
    "CsvValues",
    "DateRange",
    "Deal",
    "DealPage",
    "Offer",
    "OfferCondition",
    "Product",
    "ProductBatch",
    "SalesRanks",
    "Stats",
    "parse_deal",
    "parse_deal_page",
    "parse_offer",
    "parse_product",
    "parse_product_batch",
    "parse_stats",
]
