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
