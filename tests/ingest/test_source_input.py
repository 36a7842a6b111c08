"""Bad source input is a clear error naming the file and the line, found before a token is spent.

An unknown source kind, a malformed barcode, a list file that does not
exist, a category name that matches nothing or several: each is one line
naming where it was written; the ingest command stops before its first
paid call (the sandbox account is never charged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.errors import ConfigError
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.ingest.categories import CATEGORY_CACHE, resolve_category
from keepa_deals.ingest.pipeline import check_queries
from keepa_deals.query import QueryFileError, load_query
from keepa_deals.query.lists import ListFileError, parse_list
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.store import RunOutcome
from tests.ingest.conftest import KEY

HEAD = '''name = "mine"
[selection]
domainId = 1
priceTypes = [2]
'''


def write(folder: Path, text: str, name: str = "q.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_unknown_source_kind_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '\n[[sources]]\nkind = "deals"\n\n[[sources]]\n'
                 'kind = "pricelist"\npath = "x.csv"\n')
    with pytest.raises(QueryFileError) as info:
        load_query(path)
    assert str(info.value) == (f"{path}: line 9: sources[1].kind: unknown source kind "
                               "'pricelist' (one of deals, finder, bestsellers, list)")


def test_a_malformed_barcode_names_the_list_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "isbn\n9780316769174\n\n9780316769175\n0-316-76917-7\n12345\n",
          "scanned.csv")
    query = load_query(write(tmp_path, HEAD + '[[sources]]\nkind = "list"\n'
                                              'path = "scanned.csv"\n'))
    with pytest.raises(ListFileError) as info:
        check_queries([query])
    listing = tmp_path / "scanned.csv"
    assert str(info.value).splitlines() == [
        f"{listing}: line 4: '9780316769175': the check digit should be 4, not 5",
        f"{listing}: line 6: '12345': 5 digits; a barcode is an EAN-8, a UPC-A (12), an "
        "EAN-13/ISBN-13 (13) or an ISBN-10 (10)",
    ]


def test_list_files_read_asins_isbns_and_barcodes_once_each() -> None:
    entries = parse_list("# scanned on Monday\n0316769177\nB00ZV9RDKK\n036000291452\n"
                         "9780316769174\n0316769177\n", source="list.txt")
    assert [(e.line, e.kind, e.value) for e in entries] == [
        (2, "asin", "0316769177"), (3, "asin", "B00ZV9RDKK"), (4, "code", "036000291452"),
        (5, "code", "9780316769174")]


def test_a_list_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    query = load_query(write(tmp_path, HEAD + '[[sources]]\nkind = "list"\npath = "gone.csv"\n'))
    with pytest.raises(ListFileError, match=r"gone\.csv: the list file does not exist"):
        check_queries([query])


def test_ingest_stops_before_the_first_token_on_bad_input(
    tmp_path: Path, server: SandboxServer, sandbox: Sandbox, sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write(tmp_path, HEAD + '[[sources]]\nkind = "list"\npath = "gone.csv"\n')
    for name, value in (("KEEPA_API_URL", server.url), ("KEEPA_API_KEY", KEY),
                        ("DATABASE_URL", sqlite_url), ("KEEPA_DEALS_QUERIES", str(path))):
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["ingest", "--once", "--json"])
    assert result.exit_code == 2
    assert "gone.csv: the list file does not exist" in json.loads(result.stdout)["error"]
    assert sandbox.account(KEY).tokens_consumed == 0


def test_a_category_name_matching_nothing_or_several_is_an_error(
    db_url: str, make_env: Callable[..., IngestEnv],
) -> None:
    env = make_env(db_url)
    assert resolve_category(env.client, env.store, 1, "science fiction & fantasy",
                            where="q.toml: line 7") == 25
    with pytest.raises(ConfigError) as info:
        resolve_category(env.client, env.store, 1, "Underwater Basket Weaving",
                         where="q.toml: line 7")
    assert str(info.value).startswith("q.toml: line 7: category name 'Underwater Basket "
                                      "Weaving' matches no category")
    env.store.cache_write(CATEGORY_CACHE, 1, {
        "9001": json.dumps({"name": "Fiction", "parent": 283155}),
        "9002": json.dumps({"name": "Fiction", "parent": 5174})})
    with pytest.raises(ConfigError) as info:
        resolve_category(env.client, env.store, 1, "fiction", where="q.toml: line 7")
    assert str(info.value) == ("q.toml: line 7: category name 'fiction' matches 2 categories "
                               "(9001 'Fiction', 9002 'Fiction'); write the id instead")


def test_a_query_file_may_name_its_best_seller_category(
    db_url: str, make_env: Callable[..., IngestEnv], tmp_path: Path, sandbox: Sandbox,
) -> None:
    env = make_env(db_url)
    query = load_query(write(tmp_path, HEAD + '[[sources]]\nkind = "bestsellers"\n'
                                              'category_name = "Textbooks"\nmax_asins = 20\n'))
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK, report.error
    assert sandbox.account(KEY).requests_to("bestsellers", 200) == 1
    bad = load_query(write(tmp_path, HEAD + '\n[[sources]]\nkind = "bestsellers"\n'
                                            'category_name = "No Such Shelf"\n', "bad.toml"))
    failed = smart_ingestor(env, bad)
    assert failed.outcome is not RunOutcome.OK
    assert f"{tmp_path / 'bad.toml'}: line 6: category name 'No Such Shelf' matches no " \
        "category" in (failed.error or "")


def test_categories_search_prints_ids_and_caches_them(
    server: SandboxServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in (("KEEPA_API_URL", server.url), ("KEEPA_API_KEY", KEY),
                        ("DATABASE_URL", sqlite_url)):
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["categories", "search", "fiction", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["categories"]
    assert {"id": 25, "name": "Science Fiction & Fantasy", "parent": 283155,
            "parent_name": None} in found or any(c["id"] == 25 for c in found)
    cached = CliRunner().invoke(app, ["categories", "cached", "--json"])
    assert any(c["id"] == 25 for c in json.loads(cached.stdout)["categories"])
    none = CliRunner().invoke(app, ["categories", "search", "zzzqqq"])
    assert none.exit_code == 1


def test_a_source_without_a_kind_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + '[[sources]]\npath = "x.csv"\n')
    with pytest.raises(QueryFileError, match=r"line 5: sources\[0\]\.kind: required \(one of"):
        load_query(path)
