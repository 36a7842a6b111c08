"""Every Redis key comes from one builder: one prefix, one hash tag, never the API key."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr
from redis.crc import key_slot

from keepa_deals.redis_db.keys import PREFIX, KeyBuilder, fingerprint, settings_fingerprint
from keepa_deals.settings import Settings

API_KEY = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"


def every_key(kb: KeyBuilder) -> list[str]:
    """Every key shape the builder makes (add new shapes here)."""
    return [kb.budget, kb.leases, kb.budget_marker, *kb.budget_keys, kb.lock("ingest"), kb.lock("deals.de-2"),
            kb.health("worker"), kb.health("last_run")]


def test_fingerprint_is_16_hex_digits_of_sha256_and_never_the_key() -> None:
    fp = fingerprint(API_KEY)
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert fp == fingerprint(SecretStr(API_KEY))
    assert fp != fingerprint(API_KEY + "x")
    assert fp not in API_KEY and API_KEY[:16] != fp


def test_settings_fingerprint_follows_the_configured_key() -> None:
    assert settings_fingerprint(Settings(keepa_api_key=API_KEY)) == fingerprint(API_KEY)
    assert settings_fingerprint(Settings()) == fingerprint("")


def test_every_key_shape() -> None:
    kb = KeyBuilder(fingerprint(API_KEY))
    keys = every_key(kb)
    tag = f"{{{kb.fingerprint}}}"
    assert kb.hash_tag == tag
    for key in keys:
        assert key.startswith(f"{PREFIX}:{tag}:"), key
        assert "::" not in key and not key.endswith(":"), key
        assert all(part for part in key.split(":")), key
        assert key.count("{") == 1 and key.count("}") == 1, "exactly one hash tag"
        assert API_KEY not in key and API_KEY[:16] not in key
        assert key == key.strip() and " " not in key
    assert len(set(keys) - set(kb.budget_keys)) == len(keys) - 6, "distinct shapes"
    assert len({key_slot(k.encode()) for k in keys}) == 1, "one cluster slot per API key"
    assert kb.budget_keys == (kb.budget, kb.leases, kb.budget_marker)


def test_key_shapes_are_fixed() -> None:
    kb = KeyBuilder("0123456789abcdef")
    assert kb.budget == "keepa-deals:{0123456789abcdef}:budget"
    assert kb.leases == "keepa-deals:{0123456789abcdef}:leases"
    assert kb.budget_marker == "keepa-deals:{0123456789abcdef}:budget-marker"
    assert kb.lock("ingest") == "keepa-deals:{0123456789abcdef}:lock:ingest"
    assert kb.health("worker") == "keepa-deals:{0123456789abcdef}:health:worker"
    assert kb.pattern == "keepa-deals:\\{0123456789abcdef\\}:*"


@pytest.mark.parametrize("bad", [API_KEY, API_KEY[:16].upper(), "", "0123456789abcde",
                                 "0123456789abcdef0", "0123456789abcdeg", "{0123456789abcd}"])
def test_the_builder_takes_only_a_fingerprint(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        KeyBuilder(bad)
    assert (bad or "\0") not in str(info.value), "the refused value is never echoed"


@pytest.mark.parametrize("name", ["", "a:b", "a::b", "{x}", "Ingest", "a b", "-a", "a-",
                                  "a..b", API_KEY, "x" * 41])
def test_name_parts_cannot_break_the_shape_or_carry_a_key(name: str) -> None:
    kb = KeyBuilder(fingerprint(API_KEY))
    for make in (kb.lock, kb.health):
        with pytest.raises(ValueError) as info:
            make(name)
        assert not name or name not in str(info.value)
