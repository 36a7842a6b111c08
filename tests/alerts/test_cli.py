"""``keepa-deals alerts``: test, add, list, remove, history, drain; secrets never printed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.settings import Settings
from keepa_deals.store import Changes, DealStore
from tests.alerts._receivers import WebhookReceiver
from tests.alerts.test_deal_alerts import QUERY, row

SECRET = "TOPSECRETWEBHOOKTOKEN"


@pytest.fixture
def cli_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_alerts_test_reaches_a_plain_webhook(cli_db: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with WebhookReceiver() as hook:
        code, out, err = invoke("alerts", "test", "--to", hook.url(f"hooks/{SECRET}"))
        assert code == 0, err
        [got] = hook.wait_for(1)
        assert got["path"] == f"/hooks/{SECRET}" and "test message" in got["body"]["title"]
        assert SECRET not in out + err and "json://127.0.0.1/***" in out
        monkeypatch.setenv("KEEPA_DEALS_ALERT_URLS", hook.url("a") + "," + hook.url("b"))
        code, out, err = invoke("alerts", "test")
        assert code == 0 and len(hook.wait_for(3)) == 3
    code, out, err = invoke("alerts", "test", "--to", f"json://127.0.0.1:9/{SECRET}")
    assert code == 1 and "FAILED" in out and SECRET not in out + err


def test_add_list_history_remove(cli_db: str) -> None:
    with WebhookReceiver() as hook:
        url = hook.url(f"hooks/{SECRET}")
        code, out, err = invoke("alerts", "add", "--name", "good", "--filter",
                                "min_profit=5&max_price=20", "--to", url, "--quiet",
                                "02:00-03:00")
        assert code == 0, err
        assert "good: min_profit=5&max_price=20" in out and SECRET not in out
        code, out, _ = invoke("alerts", "list", "--json")
        [alert] = json.loads(out)["alerts"]
        assert alert["name"] == "good" and SECRET not in out
        with DealStore.open(cli_db) as store:
            from keepa_deals.alerts import attach

            attach(store, Settings(database_url=cli_db))
            store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
        code, out, err = invoke("alerts", "drain", "--no-health")
        assert code == 0 and ("sent 1" in out or "deferred 1" in out), out + err
        code, out, _ = invoke("alerts", "history", "--json")
        [msg] = json.loads(out)
        assert msg["kind"] == "deal" and msg["status"] in ("sent", "pending")
        assert SECRET not in out
        code, out, _ = invoke("alerts", "remove", "good")
        assert code == 0
        assert invoke("alerts", "list", "--json")[1].count('"name"') == 0
        code, _, err = invoke("alerts", "remove", "good")
        assert code == 2 and "no alert named 'good'" in err


def test_bad_input_is_named_and_the_url_never_quoted(cli_db: str) -> None:
    code, _, err = invoke("alerts", "add", "--name", "x", "--filter", "min_profitt=5",
                          "--to", "json://h/x")
    assert code == 2 and "--filter" in err and "unknown filter 'min_profitt'" in err
    code, _, err = invoke("alerts", "add", "--name", "x", "--filter", "min_profit=5",
                          "--to", f"nosuchscheme://{SECRET}@host/x")
    assert code == 2 and "--to #1" in err and SECRET not in err
    code, _, err = invoke("alerts", "add", "--name", "x", "--filter", "sort=roi",
                          "--to", "json://h/x")
    assert code == 2 and "sort" in err
    code, _, err = invoke("alerts", "add", "--name", "x", "--filter", "", "--to",
                          "json://h/x", "--quiet", "25:00-01:00")
    assert code == 2 and "--quiet" in err


def test_settings_show_alert_urls_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPA_DEALS_ALERT_URLS", f"json://127.0.0.1:9/{SECRET}")
    code, out, _ = invoke("settings", "--json")
    assert code == 0 and SECRET not in out and "json://127.0.0.1/***" in out
    assert SECRET not in repr(Settings()) and SECRET not in str(Settings())
