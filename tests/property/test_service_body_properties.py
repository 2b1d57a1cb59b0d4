"""The service's fast body reader is the library's strict reader: the same value, or the same error.

`parse_body` (orjson, then checks) must never accept what `parse_json` refuses (duplicate keys,
also spelled with escapes; NaN; 1e400; lone surrogates; deep nesting) nor return another value
(integers beyond 64 bits, which orjson turns into floats)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability.codec import parse_json
from suitability.errors import InputError
from suitability.service.body import parse_body

# keys drawn from a few, so duplicates are frequent: "a" and "\u0061" are the same key
KEYS = st.sampled_from(['"a"', '"b"', '"\\u0061"', '"a:b"', '"\\"a\\":"', '"\\\\"', '"\\ud83d\\ude00"', '"é"'])
NUMBERS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "1E5", "0.1e-400", "01", "1."]),
)
STRINGS = st.one_of(
    st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(['"\\ud800"', '"\\udc00x"', '"x\\ud83d\\ude00"', '":"', '"{\\"k\\": 1}"', '"\\u0000"']),
)
SPACE = st.sampled_from(["", " ", "\n", "\t "])


def _join(parts: list[str], space: str) -> str:
    return ("," + space).join(parts)


def _object(pairs: list[tuple[str, str]], space: str) -> str:
    return "{" + space + _join([f"{k}{space}:{space}{v}" for k, v in pairs], space) + space + "}"


TEXTS = st.recursive(
    NUMBERS | STRINGS | st.sampled_from(["true", "false", "null"]),
    lambda inner: (
        st.builds(lambda items, space: "[" + _join(items, space) + "]", st.lists(inner, max_size=4), SPACE)
        | st.builds(_object, st.lists(st.tuples(KEYS, inner), max_size=4), SPACE)
    ),
    max_leaves=20,
)


def _typed(value: Any) -> Any:
    """``value`` with every number's type kept (1 and 1.0 differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _outcome(read: Any, data: bytes) -> Any:
    try:
        return "value", _typed(read(data, "request body"))
    except InputError as exc:
        return "error", exc.render()


@settings(max_examples=800)
@given(text=TEXTS, encoding=st.sampled_from(["utf-8", "utf-8 with BOM", "utf-16"]))
def test_parse_body_reads_every_text_as_parse_json_does(text: str, encoding: str) -> None:
    data = {
        "utf-8": text.encode("utf-8", "surrogatepass"),
        "utf-8 with BOM": b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
        "utf-16": text.encode("utf-16", "surrogatepass"),
    }[encoding]
    assert _outcome(parse_body, data) == _outcome(parse_json, data)


@given(data=st.binary(max_size=64))
def test_parse_body_reads_any_bytes_as_parse_json_does(data: bytes) -> None:
    assert _outcome(parse_body, data) == _outcome(parse_json, data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": 1, "\\u0061": 2}',
        b'{"x": {"k:": 1, "k:": 2}}',
        b'{"a": NaN}',
        b"[1e400]",
        b'"\\ud800"',
        b"[" * 70 + b"]" * 70,
    ],
)
def test_what_the_strict_reader_refuses_parse_body_refuses_the_same_way(data: bytes) -> None:
    with pytest.raises(InputError) as fast:
        parse_body(data)
    with pytest.raises(InputError) as strict:
        parse_json(data, "request body")
    assert fast.value.render() == strict.value.render()


def test_integers_beyond_64_bits_stay_integers() -> None:
    big = 123456789012345678901234567890
    assert parse_body(f'{{"n": {big}}}'.encode()) == {"n": big}
    assert type(parse_body(f"[{big}]".encode())[0]) is int
