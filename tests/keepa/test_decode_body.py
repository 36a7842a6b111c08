"""decode_body decodes every body exactly as the json module does (orjson is only faster).

The reference is the json-module-only decoder; results are compared by
``repr``, which tells an int from a float, -0.0 from 0.0 and keeps NaN equal.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keepa_deals.keepa.replies import decode_body


def reference(content: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """decode_body as the json module alone would answer."""
    if not content:
        return None, "an empty body"
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None, f"a body that is not JSON ({len(content)} bytes: truncated or not JSON)"
    if not isinstance(body, dict):
        return None, f"a JSON {type(body).__name__} where an object was expected"
    return body, None


def same(content: bytes) -> None:
    assert repr(decode_body(content)) == repr(reference(content)), content[:200]


EDGE_CASES = [
    b'{"a":1,"a":2}',                                   # duplicate keys: the last wins
    b'{"x":NaN,"y":Infinity,"z":-Infinity}',            # json accepts them, orjson does not
    b'{"x":123456789012345678901234567890}',            # past 64 bits: an int, never a float
    b'{"x":18446744073709551615}',                      # 2**64 - 1
    b'{"x":18446744073709551616}',                      # 2**64
    b'{"x":9223372036854775807}',                       # Keepa's "unknown category"
    b'{"x":-9223372036854775808}',                      # -2**63
    b'{"x":-9223372036854775809}',                      # -2**63 - 1
    b'{"x":[-1,-2,0,1e2,1E-2,0.1,5e-324,1e400,-0,-0.0]}',
    b'{"x":"\\ud800"}',                                 # a lone surrogate
    b'{"x":"\\u00e9\\n\\/","\xc3\xa9":"\xe2\x82\xac"}',
    b'\xef\xbb\xbf{"x":1}',                             # a UTF-8 BOM
    '{"x":1}'.encode("utf-16"),
    '{"x":1}'.encode("utf-32-le"),
    b'{"x":"a\nb"}',                                    # a raw control character
    b'{"x":\xff}', b'{"x":"\xc3"}',                     # not UTF-8
    b'{"x":1} x', b'{"x":1}\n', b' \t\r\n{"x":1}', b'\x0c{"x":1}',
    b"[" * 5000 + b"]" * 5000,                          # too deep
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"", b" ", b"[1]", b'"x"', b"null", b"1", b'{"x":01}', b'{"x":1.}', b'{"x":+1}',
    b'{"x":"a\\x"}', b"{'x':1}", b'{"x":[1,]}', b'{"x":1,}',
]


def test_edge_cases() -> None:
    for content in EDGE_CASES:
        same(content)


_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=8) | st.integers(min_value=-(2**70), max_value=2**70)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=6),
    max_leaves=40,
)
_number_text = st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,4})?",
                             fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), _values, max_size=6), st.booleans())
def test_objects(value: dict[str, Any], ascii_only: bool) -> None:
    same(json.dumps(value, ensure_ascii=ascii_only).encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(_number_text, min_size=1, max_size=8))
def test_numbers_as_keepa_writes_them(numbers: list[str]) -> None:
    same(('{"current":[' + ",".join(numbers) + "]}").encode())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), _values, min_size=1, max_size=4),
       st.data())
def test_damaged_bodies(value: dict[str, Any], data: st.DataObject) -> None:
    content = bytearray(json.dumps(value).encode())
    cut = data.draw(st.integers(0, len(content)))
    noise = data.draw(st.binary(max_size=3) | st.text(string.printable, max_size=3).map(
        str.encode))
    where = data.draw(st.integers(0, cut))
    damaged = bytes(content[:where]) + noise + bytes(content[where:cut])
    same(damaged)
