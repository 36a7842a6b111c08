"""``keepa-deals deals list`` and ``deals export``: the current deals in the terminal,
filtered with the dashboard's own grammar."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.store import DealStore
from keepa_deals.web.export import COLUMNS
from tests.web._priced import priced


@pytest.fixture
def stored(store: DealStore, db_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    rows, _ = priced(150, seed=3)
    for name in {n for n, _ in rows}:
        store.save_batch([r for n, r in rows if n == name], query=name)
    monkeypatch.setenv("DATABASE_URL", db_url)
    return len(rows)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_json_sorted_by_profit_is_best_first(stored: int) -> None:
    code, out, err = invoke("deals", "list", "--json", "--sort", "profit", "--limit", "500")
    assert code == 0, err
    body = json.loads(out)
    profits = [d["profit_cents"] for d in body["items"]]
    assert len(profits) == stored == body["total"]
    assert profits == sorted(profits, reverse=True) and profits[0] > profits[-1]
    assert body["sort"] == "profit" and body["order"] == "desc"


def test_list_takes_the_dashboard_s_filter_grammar(stored: int) -> None:
    code, out, _ = invoke("deals", "list", "--json", "--filter", "min_profit=10&min_roi=50",
                          "--sort", "roi", "--limit", "1000")
    assert code == 0
    items = json.loads(out)["items"]
    assert items and all(d["profit_cents"] >= 1000 and d["roi_percent"] >= 50 for d in items)
    rois = [d["roi_percent"] for d in items]
    assert rois == sorted(rois, reverse=True)
    # the table: a header, one line per deal, a summary
    code, out, _ = invoke("deals", "list", "--filter", "min_profit=10", "--limit", "5")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ASIN", "PROFIT", "ROI"]
    assert len(lines) == 7 and lines[-1].startswith("5 of ")


def test_a_bad_filter_is_one_error_line_naming_it(stored: int) -> None:
    code, out, err = invoke("deals", "list", "--filter", "min_profitt=10")
    assert code == 2 and out == ""
    assert err.startswith("error: --filter: unknown filter 'min_profitt'")
    assert len(err.strip().splitlines()) == 1
    code, _, err = invoke("deals", "export", "--format", "csv", "--filter", "min_profit=ten")
    assert code == 2 and "Min profit" in err


def test_export_csv_parses_with_a_header_and_json_to_a_file(stored: int,
                                                            tmp_path: Path) -> None:
    code, out, _ = invoke("deals", "export", "--format", "csv", "--filter", "no_amazon=1")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    records = list(reader)
    assert records and all(r["amazon_in_stock"] == "false" for r in records)
    target = tmp_path / "deals.json"
    code, _, err = invoke("deals", "export", "--format", "json", "-o", str(target))
    assert code == 0 and f"wrote {stored} deals" in err
    body = json.loads(target.read_text())
    assert len(body) == stored and set(body[0]) == set(COLUMNS)
    assert [p.name for p in tmp_path.iterdir()] == ["deals.json"]  # no temporary left
