"""Query files: the default loads, and every kind of bad file names the file and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from keepa_deals.errors import ConfigError
from keepa_deals.profit import DEFAULT_SETTINGS
from keepa_deals.query import (
    DealQuery,
    ProfitConfig,
    QueryFileError,
    builtin_queries,
    default_query,
    load_query,
    parse_query,
    resolve_query,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "query.md"

MINIMAL = """
name = "mini"
[selection]
domainId = 1
priceTypes = [2]
"""


def problems(text: str, *, name: str = "query.toml") -> list[str]:
    with pytest.raises(QueryFileError) as info:
        parse_query(text, source=name)
    assert isinstance(info.value, ConfigError)
    assert all(line.startswith(f"{name}: ") for line in str(info.value).splitlines())
    return info.value.problems


def test_default_query_is_used_books_on_amazon_com() -> None:
    q = default_query()
    assert q.name == "used-books-us"
    wire = q.selection_for_page(0)
    assert wire["domainId"] == 1 and wire["priceTypes"] == [2]
    assert wire["dateRange"] in (1, 2) and wire["sortType"] == 1
    assert wire["includeCategories"] == [283155]
    assert wire["isRangeEnabled"] is True and wire["isFilterEnabled"] is True
    assert q.selection_for_page(4)["page"] == 4
    assert q.run.max_pages >= 1
    assert "used-books-us" in builtin_queries()
    assert resolve_query(None) == q and resolve_query("used-books-us") == q


def test_default_selection_passes_the_keepa_clients_own_check() -> None:
    validation = pytest.importorskip("keepa_deals.keepa.validation")
    validate = getattr(validation, "validate_selection", None)
    if validate is None:
        pytest.skip("the Keepa client has no validate_selection")
    assert validate(default_query().selection_for_page(1))["page"] == 1


def test_a_minimal_query_gets_defaults_everywhere() -> None:
    q = parse_query(MINIMAL)
    assert q.selection_for_page(0) == {
        "domainId": 1, "priceTypes": [2], "dateRange": 1, "sortType": 1, "page": 0
    }
    assert q.profit_settings() == DEFAULT_SETTINGS
    assert ProfitConfig().settings() == DEFAULT_SETTINGS


def test_json_query_files_load_too(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"name": "j", "selection": {"domainId": 3, "priceTypes": [1]},
                                "filters": {"offers": {"min_profit_cents": 300}}}))
    q = load_query(path)
    assert (q.domain_id, q.price_type, q.filters.offers.min_profit_cents) == (3, 1, 300)
    assert resolve_query(str(path)) == q


def test_files_are_named_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL + "\n[filters.feed]\nmin_percent_below = -1\n")
    with pytest.raises(QueryFileError) as info:
        load_query(path)
    assert str(info.value) == f"{path}: filters.feed.min_percent_below: must be ≥ 0, got -1"


def test_missing_file_and_unknown_builtin() -> None:
    with pytest.raises(QueryFileError, match=r"nope\.toml: cannot read the file"):
        load_query("nope.toml")
    with pytest.raises(ConfigError, match="no built-in query 'nope'"):
        resolve_query("nope")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = \n", r"^invalid TOML"),
        ("[selection\n", r"^invalid TOML"),
        ("", r"^name: required"),
        ('name = "x"\n', r"^selection: required"),
        ('name = "Has Spaces"\n' + MINIMAL.split("\n", 2)[2], r"^name: must be 1-64"),
    ],
)
def test_unparsable_or_incomplete_files(text: str, expected: str) -> None:
    found = problems(text)
    assert re.search(expected, found[0]), found


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(QueryFileError, match=r"q\.json: line 1, column \d+: invalid JSON"):
        parse_query('{"name": }', source="q.json", fmt="json")
    with pytest.raises(QueryFileError, match="top level must be a table"):
        parse_query("[1, 2]", source="q.json", fmt="json")


BAD_FIELDS = [
    # (toml appended to MINIMAL or replacing the selection, the field, the message)
    ("[filters.feed]\nmin_percent_below = -5", "filters.feed.min_percent_below", "must be ≥ 0"),
    ("[filters.feed]\nmin_percent_below = 101", "filters.feed.min_percent_below", "must be ≤ 100"),
    ("[filters.feed]\nmin_price_cents = 12.5", "filters.feed.min_price_cents", "an integer"),
    ('[filters.feed]\nmin_price_cents = "500"', "filters.feed.min_price_cents", "an integer"),
    ("[filters.feed]\nmin_price_cents = 900\nmax_price_cents = 500",
     "filters.feed.max_price_cents", "min_price_cents"),
    ("[filters.feed]\ntitle_excludes = \"guide\"", "filters.feed.title_excludes", "a list"),
    ('[filters.feed]\ntitle_excludes = ["ok", ""]', "filters.feed.title_excludes[1]", "at least"),
    ("[filters.feed]\ncategories = [-3]", "filters.feed.categories[0]", "must be ≥ 0"),
    ("[filters.stats]\nmax_sales_rank = 0", "filters.stats.max_sales_rank", "must be ≥ 1"),
    ("[filters.stats]\nreject_amazon_in_stock = 1", "filters.stats.reject_amazon_in_stock",
     "true or false"),
    ("[filters.offers]\noffers = 10", "filters.offers.offers", "must be ≥ 20"),
    ('[filters.offers]\nmin_roi_percent = "50%"', "filters.offers.min_roi_percent", "a number"),
    ("[profit]\nsale_price_window = 60", "profit.sale_price_window", "30, 90, 180 or 365"),
    ("[profit]\nsale_price_fallbacks = [180, 180]", "profit.sale_price_fallbacks", "twice"),
    ("[profit]\nsale_price_fallbacks = [90]", "profit.sale_price_fallbacks", "repeats"),
    ("[profit]\ndefault_referral_percent = 150", "profit.default_referral_percent", "≤ 100"),
    ("[profit]\nprep_cents = -1", "profit.prep_cents", "must be ≥ 0"),
    ("[run]\nmax_pages = 0", "run.max_pages", "must be ≥ 1"),
    ("[run]\nmax_pages = 1000", "run.max_pages", "must be ≤ 67"),
]


@pytest.mark.parametrize(("extra", "field", "message"), BAD_FIELDS)
def test_bad_values_name_the_field(extra: str, field: str, message: str) -> None:
    found = problems(MINIMAL + "\n" + extra + "\n")
    assert len(found) == 1, found
    where, _, what = found[0].partition(": ")
    assert where == field
    assert message in what


BAD_SELECTIONS = [
    ("domainId = 7\npriceTypes = [2]", "selection.domainId", "locale"),
    ("domainId = 1\npriceTypes = [2, 3]", "selection.priceTypes", "exactly one price type"),
    ("domainId = 1\npriceTypes = []", "selection.priceTypes", "exactly one price type"),
    ("domainId = 1\npriceTypes = [4]", "selection.priceTypes", "not a deal price type"),
    ("domainId = 1\npriceTypes = 2", "selection.priceTypes", "a list"),
    ("domainId = \"1\"\npriceTypes = [2]", "selection.domainId", "an integer"),
    ("domainId = 1\npriceTypes = [2]\ndateRange = 5", "selection.dateRange", "0, 1, 2 or 3"),
    ("domainId = 1\npriceTypes = [2]\nsortType = -1", "selection.sortType", "must be"),
    ("domainId = 1\npriceTypes = [2]\ncurrentRange = [500]", "selection.currentRange", "at least"),
    ("domainId = 1\npriceTypes = [2]\ncurrentRange = [900, 100]", "selection.currentRange",
     "above max"),
    ("domainId = 1\npriceTypes = [2]\ndeltaPercentRange = [20, 120]",
     "selection.deltaPercentRange", "≤ 100"),
    ("domainId = 1\npriceTypes = [2]\nmustHaveAmazonOffer = true\nmustNotHaveAmazonOffer = true",
     "selection.mustNotHaveAmazonOffer", "cannot be true together"),
    ("domainId = 1\npriceTypes = [2]\nminRating = 51", "selection.minRating", "≤ 50"),
    ("domainId = 1\npriceTypes = [2]\nisRangeEnabled = true", "selection.isRangeEnabled",
     "unknown key"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_SELECTIONS)
def test_bad_selections_name_the_keepa_field(body: str, field: str, message: str) -> None:
    found = problems(f'name = "x"\n[selection]\n{body}\n')
    assert len(found) == 1, found
    where, _, what = found[0].partition(": ")
    assert (where, message in what) == (field, True), found


@pytest.mark.parametrize(
    ("top", "tables", "field", "hint"),
    [
        ("nmae = 'typo'", "", "nmae", "'name'"),
        ("", "[filters.feed]\nmin_percent_belw = 30", "filters.feed.min_percent_belw",
         "'min_percent_below'"),
        ("", "[filters.stat]\nmax_sales_rank = 3", "filters.stat", "'stats'"),
        ("", "[profit]\nreferral_percent = 15", "profit.referral_percent",
         "'default_referral_percent'"),
        ("", "[extra]\nx = 1", "extra", None),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(
    top: str, tables: str, field: str, hint: str | None
) -> None:
    found = problems(top + "\n" + MINIMAL + "\n" + tables + "\n")
    assert len(found) == 1, found
    where, _, what = found[0].partition(": ")
    assert where == field and what.startswith("unknown key")
    if hint:
        assert f"did you mean {hint}" in what


def test_a_table_of_the_wrong_type_is_named() -> None:
    found = problems("filters = 3\n" + MINIMAL)
    assert found == ["filters: must be a table, got an integer 3"]


def test_unknown_selection_key_suggests_keepas_name() -> None:
    found = problems('name = "x"\n[selection]\ndomainId = 1\npriceTypes = [2]\ndomainID = 1\n')
    assert found == ["selection.domainID: unknown key (did you mean 'domainId'?)"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(MINIMAL + "\n[filters.feed]\nmin_price_cents = -1\nmax_sales_rank = 0\n"
                     "[run]\nmax_pages = 0\n")
    assert [p.split(":")[0] for p in found] == [
        "filters.feed.min_price_cents", "filters.feed.max_sales_rank", "run.max_pages"
    ]


def test_queries_are_immutable() -> None:
    q = parse_query(MINIMAL)
    with pytest.raises(ValueError):
        q.name = "other"  # type: ignore[misc]


def test_filter_stages_say_why_a_deal_is_rejected() -> None:
    f = default_query().filters
    ok = dict(price_cents=900, percent_below=45.0, sales_rank=50_000, root_category=283155,
              title="A Fine Book")
    assert f.feed.check(**ok) is None
    assert f.feed.check(**ok | {"price_cents": 100}) == "price below min_price_cents"
    assert f.feed.check(**ok | {"price_cents": None}) == "no current price"
    assert f.feed.check(**ok | {"percent_below": 10.0}) == "not enough below average"
    assert f.feed.check(**ok | {"sales_rank": None}) == "no sales rank"
    assert f.feed.check(**ok | {"root_category": 1}) == "category not included"
    assert f.feed.check(**ok | {"title": "Calculus, Loose Leaf"}) == "title excluded"
    stats = dict(sales_rank=50_000, rank_drops_30=3, rank_drops_90=9, offers_used=10,
                 offers_fba=1, amazon_in_stock=False)
    assert f.stats.check(**stats) is None
    assert f.stats.check(**stats | {"rank_drops_90": None}) == "too few rank drops in 90 days"
    assert f.stats.check(**stats | {"offers_used": 500}) == "too many used offers"
    assert f.offers.check(profit_cents=900, roi_percent=80.0, margin_percent=30.0) is None
    assert f.offers.check(profit_cents=None, roi_percent=None, margin_percent=None) == (
        "no profit estimate"
    )
    assert f.offers.check(profit_cents=900, roi_percent=10.0, margin_percent=30.0) == (
        "ROI below min_roi_percent"
    )


def test_every_field_is_documented() -> None:
    text = DOCS.read_text()
    missing = []

    def walk(model: type, prefix: str) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            key = field.alias or name
            sub = getattr(field.annotation, "model_fields", None)
            if sub is not None:
                walk(field.annotation, f"{prefix}{key}.")  # type: ignore[arg-type]
            elif f"`{key}`" not in text:
                missing.append(prefix + key)

    walk(DealQuery, "")
    assert not missing, f"fields missing from docs/query.md: {missing}"


def test_profit_settings_follow_the_query_they_are_asked_of() -> None:
    q = default_query()
    assert q.profit_settings() is q.profit_settings()  # built once per profit table
    cheaper = q.model_copy(update={"profit": q.profit.model_copy(update={"prep_cents": 7})})
    assert cheaper.profit_settings().prep_cents == 7
    assert q.profit_settings().prep_cents == q.profit.prep_cents
