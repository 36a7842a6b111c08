"""keepa-deals: a database of Amazon deals kept fresh from the Keepa API."""

__version__ = "0.1.0"
