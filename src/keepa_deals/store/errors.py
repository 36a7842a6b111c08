"""Errors from the deal store.

::

    StoreError                      the deal store failed
    ├── DatabaseUnavailable         the database cannot be reached (down, refused, wrong host)
    ├── SchemaNotCurrent            the schema is behind the code and migrating was not allowed
    ├── MigrationError              applying a migration failed
    └── InvalidDealRow              a row handed to the store breaks the schema's rules

An unparsable or unsupported ``DATABASE_URL`` is a ``keepa_deals.errors.ConfigError``.
Messages never contain a database password: URLs are printed with ``***``.
"""

from __future__ import annotations

from keepa_deals.errors import KeepaDealsError


class StoreError(KeepaDealsError):
    """Base class of every deal-store error."""


class DatabaseUnavailable(StoreError):
    """The database could not be reached or dropped the connection.

    ``transient`` says whether trying again later may work: a refused or dropped
    connection, a server starting up or shutting down, too many connections, a deadlock,
    a SQLite database locked by another writer.  A full disk, a read-only file or a
    statement cancelled by its timeout fail again the same way: not transient.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class SchemaNotCurrent(StoreError):
    """The database schema is not at the revision this code needs."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"the database schema is at {current or 'nothing (empty database)'}, this code needs "
            f"{head}; run `keepa-deals db upgrade`"
        )


class MigrationError(StoreError):
    """A migration could not be applied."""


class InvalidDealRow(StoreError):
    """A deal row has a value of the wrong type or range (e.g. a price that is not whole cents)."""

    def __init__(self, asin: object, field: str, problem: str) -> None:
        self.asin = asin
        self.field = field
        self.problem = problem
        super().__init__(f"deal {asin!r}: {field}: {problem}")
