"""``keepa-deals db upgrade`` and ``keepa-deals db current``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.store import migrate


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_current_then_upgrade_then_current(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    code, out = run("db", "current", "--json")
    assert code == 1
    assert json.loads(out)["current"] is None and json.loads(out)["up_to_date"] is False
    code, out = run("db", "upgrade")
    assert code == 0 and "upgraded (empty) ->" in out
    code, out = run("db", "upgrade", "--json")
    assert code == 0 and json.loads(out)["changed"] is False
    code, out = run("db", "current", "--json")
    assert code == 0
    assert json.loads(out) | {"database": None} == {
        "database": None, "current": migrate.head_revision(), "head": migrate.head_revision(),
        "up_to_date": True,
    }


def test_unreachable_database_exits_2_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://keepa:s3cret@127.0.0.1:1/deals")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "database unavailable" in result.output and "s3cret" not in result.output


def test_bad_url_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u@h/db")
    result = CliRunner().invoke(app, ["db", "current"])
    assert result.exit_code == 2 and "DATABASE_URL" in result.output
