from __future__ import annotations

from pathlib import Path

import pytest

from keepa_deals.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [env for env in Settings.env_names().values() if f"`{env}`" not in text]
    assert not missing, f"settings missing from docs/settings.md: {missing}"


def test_plain_names_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPA_API_KEY", "k" * 64)
    monkeypatch.setenv("KEEPA_API_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    s = Settings()
    assert s.keepa_api_key is not None and s.keepa_api_key.get_secret_value() == "k" * 64
    assert s.keepa_api_url == "http://127.0.0.1:9"
    assert s.redis_url == "redis://127.0.0.1:1/0"
    assert s.effective_database_url() == "postgresql://u@h/db"


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KEEPA_API_URL=http://example.invalid\nKEEPA_DEALS_BUDGET_FLOOR=-50\n")
    s = Settings()
    assert s.keepa_api_url == "http://example.invalid"
    assert s.budget_floor == -50


def test_key_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPA_API_KEY", "s3cr3t" * 10)
    s = Settings()
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(s.model_dump())


def test_embedded_default_is_sqlite_under_data_dir() -> None:
    s = Settings()
    assert s.effective_database_url().startswith("sqlite:///")
    assert str(s.data_dir) in s.effective_database_url()


def test_settings_errors_are_one_line_and_never_echo_a_secret(monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    from keepa_deals.errors import ConfigError
    from keepa_deals.settings import load_settings

    monkeypatch.setenv("KEEPA_DEALS_WEB_TOKEN", "tooshort")
    monkeypatch.setenv("REDIS_URL", "http://:redispassword@h/0")
    monkeypatch.setenv("KEEPA_DEALS_INGEST_MAX_PAGES", "abc")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "\n" not in text and text.startswith("invalid settings: ")
    assert "KEEPA_DEALS_WEB_TOKEN must be at least 12 characters" in text
    assert "REDIS_URL must be a redis://" in text
    assert "KEEPA_DEALS_INGEST_MAX_PAGES must be a whole number (got 'abc')" in text
    assert "tooshort" not in text and "redispassword" not in text
    assert "input_value" not in text and "pydantic" not in text


def test_log_level_and_url_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    assert Settings(log_level="debug").log_level == "DEBUG"
    assert Settings(log_level="warn").log_level == "WARNING"
    for bad in ({"log_level": "LOUD"}, {"keepa_api_url": "http://[::1"},
                {"keepa_api_url": "http://"}, {"keepa_api_url": "http://h:port"}):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]


def test_a_malformed_key_is_refused_without_quoting_it() -> None:
    from keepa_deals.errors import ConfigError

    assert Settings(keepa_api_key="k" * 64).require_api_key() == "k" * 64  # type: ignore[arg-type]
    for bad in ("not-a-key", "K" * 64, "k" * 63, "k" * 63 + "-"):
        with pytest.raises(ConfigError, match="KEEPA_API_KEY is malformed") as info:
            Settings(keepa_api_key=bad).require_api_key()  # type: ignore[arg-type]
        assert bad not in str(info.value)
    with pytest.raises(ConfigError, match="KEEPA_API_KEY is not set"):
        Settings().require_api_key()


def test_one_resolver_of_the_effective_queries(tmp_path: Path) -> None:
    from keepa_deals.errors import ConfigError
    from keepa_deals.settings import resolve_queries

    assert Settings().query_specs() == ["used-books-us"]
    assert [q.name for q in resolve_queries(Settings())] == ["used-books-us"]
    s = Settings(queries="used-books-us")  # type: ignore[arg-type]
    assert s.query_specs() == ["used-books-us"]
    assert [q.name for q in resolve_queries(s, "used-books-us")] == ["used-books-us"]
    with pytest.raises(ConfigError, match="more than once"):
        resolve_queries(Settings(queries="used-books-us,used-books-us"))  # type: ignore[arg-type]


def test_where_each_value_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KEEPA_DEALS_BUDGET_FLOOR=-50\n")
    monkeypatch.setenv("KEEPA_DEALS_INGEST_MAX_PAGES", "5")
    sources = Settings().value_sources()
    assert sources["budget_floor"] == ".env" and sources["ingest_max_pages"] == "env"
    assert sources["http_retries"] == "default"


def test_deployment_id_is_stable_and_hides_the_urls() -> None:
    a = Settings(database_url="postgresql://u:secretpw@db/a", redis_url="redis://r:6379/0")
    same = Settings(database_url="postgresql://u:secretpw@db/a", redis_url="redis://r:6379/0")
    other = Settings(database_url="postgresql://u:secretpw@db/b", redis_url="redis://r:6379/0")
    assert a.deployment_id() == same.deployment_id() != other.deployment_id()
    assert "secretpw" not in a.deployment_id() and len(a.deployment_id()) == 12
