"""The ``[[sources]]`` of a query file: where its candidates come from.

::

    [[sources]]
    kind = "deals"                    # the deal feed: [selection] sent to /deal (the default)

    [[sources]]
    kind = "finder"                   # a Product Finder selection, paged with a cursor
    per_page = 100
    pages_per_run = 2
    sweep_every_h = 24
    [sources.selection]               # Keepa's Product Finder JSON, under Keepa's names
    current_USED_gte = 400

    [[sources]]
    kind = "bestsellers"              # a best-seller list
    category = "Books"                # an id, or a category name (resolved by name)
    range = 90

    [[sources]]
    kind = "list"                     # an ASIN or barcode list file (CSV or one per line)
    path = "scanned-books.csv"        # relative to the query file

Every kind feeds the same stages: the product check, the offers, the profit
thresholds, the sink.  A query without ``[[sources]]`` reads the deal feed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

#: The kinds a source may be, as written in query files.
SOURCE_KINDS = ("deals", "finder", "bestsellers", "list")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Where the source is written ("query.toml: line 12"), for errors found later.
    _where: str | None = PrivateAttr(default=None)

    @property
    def where(self) -> str:
        return self._where or f"source {self.kind!r}"  # type: ignore[attr-defined]


class FeedSpec(_Spec):
    """The deal feed: ``[selection]`` sent to ``/deal``, newest first, to the watermark."""

    kind: Literal["deals"] = "deals"


class FinderSpec(_Spec):
    """A Product Finder (``/query``) selection: 10 tokens + 1 per 100 ASINs per page."""

    kind: Literal["finder"]
    #: Keepa's Product Finder JSON (``page`` and ``perPage`` are set by the source).
    selection: dict[str, Any]
    per_page: Annotated[int, Field(ge=50, le=10_000)] = 100
    #: Category names, resolved to ids (the category cache, or one category search) and
    #: sent as the selection's ``categories_include``.
    category_names: Annotated[list[Annotated[str, Field(min_length=3)]],
                              Field(max_length=50)] | None = None
    #: Pages bought per run; the cursor carries on from the last page at the next run.
    pages_per_run: Annotated[int, Field(ge=1, le=200)] = 1
    #: A sweep that reached the last page starts again from page 0 this long after it began.
    sweep_every_h: Annotated[float, Field(gt=0)] = 24.0

    @field_validator("selection")
    @classmethod
    def _selection(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("page", "perPage"):
            if key in v:
                raise ValueError(f"{key} is set by the source (per_page, the cursor), "
                                 "not the selection")
        if not v:
            raise ValueError("an empty selection would match the whole catalogue")
        return v


class BestSellersSpec(_Spec):
    """A best-seller list (``/bestsellers``, 50 tokens), re-read every ``every_h`` hours."""

    kind: Literal["bestsellers"]
    #: A category id, or a product group (Keepa's name, e.g. ``"Books"``)...
    category: int | str | None = None
    #: ...or a category name, resolved to its id (the category cache, or one search).
    category_name: Annotated[str, Field(min_length=3)] | None = None
    range: Literal[0, 30, 90, 180] = 0
    #: Check at most the first this many ASINs of the list.
    max_asins: Annotated[int, Field(ge=1, le=500_000)] = 1000
    every_h: Annotated[float, Field(gt=0)] = 24.0

    @model_validator(mode="after")
    def _one_category(self) -> BestSellersSpec:
        if (self.category is None) == (self.category_name is None):
            raise ValueError("give exactly one of category (an id or product group) and "
                             "category_name")
        return self


class ListSpec(_Spec):
    """A file of ASINs or barcodes (ISBN-10/13, UPC, EAN): CSV or one per line."""

    kind: Literal["list"]
    #: Relative paths are relative to the query file.
    path: Annotated[str, Field(min_length=1)]
    #: For a CSV with a header: the column holding the codes (else the first column).
    column: str | None = None
    #: Products a barcode may resolve to (``code-limit``; each is charged).
    code_limit: Annotated[int, Field(ge=1, le=10)] = 1
    #: Check at most this many of the list's products per run (the rest wait).
    per_run: Annotated[int, Field(ge=1, le=100_000)] = 1000


SourceSpec = Annotated[FeedSpec | FinderSpec | BestSellersSpec | ListSpec,
                       Field(discriminator="kind")]


__all__ = ["SOURCE_KINDS", "BestSellersSpec", "FeedSpec", "FinderSpec", "ListSpec",
           "SourceSpec"]
