"""Request bodies read as the library's strict reader reads them, at orjson's speed.

:func:`~suitability.codec.parse_json` refuses what JSON allows but a record must not carry
(duplicate keys, ``NaN``, ``1e400``, lone surrogates, nesting deeper than 64) by calling back
into Python for every object and number, which costs more than a whole request's other work.
:func:`parse_body` parses with orjson (itself strict about UTF-8, ``NaN`` and infinity) and takes
its result only when it is certainly what ``parse_json`` would return: every object key of the
text kept (as many keys parsed as the text has structural colons: a duplicate loses one), no
number of 19 digits or more (orjson turns such an integer into a float), no surrogate escape
and no deep nesting. Anything else (including every malformed body) goes to ``parse_json``,
which returns the same value or raises the same :class:`~suitability.errors.InputError`, with
its line and column.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..codec import MAX_DEPTH, MAX_INPUT_BYTES, parse_json

# A JSON string (orjson has already checked the text: every string is well formed).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_LONG_NUMBER = re.compile(rb"\d{19}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _keys_and_depth(value: Any) -> tuple[int, int]:
    """How many object keys ``value`` holds in all, and how deep it nests (a scalar is 0)."""
    keys, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            keys += len(item)
            stack.extend((child, depth) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            depth += 1
            stack.extend((child, depth) for child in item if isinstance(child, dict | list))
        if depth > deepest:
            deepest = depth
    return keys, deepest


def parse_body(data: bytes, source: str = "request body") -> Any:
    """Parse ``data`` exactly as ``parse_json(data, source)`` does (the same value or the same error).

    Raises:
        InputError: the bytes are not one strict JSON value; the error says where and why.
    """
    if len(data) > MAX_INPUT_BYTES:
        return parse_json(data, source)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return parse_json(data, source)
    if _SURROGATE_ESCAPE.search(data):
        return parse_json(data, source)
    outside = _STRING.sub(b"", data)
    keys, depth = _keys_and_depth(value)
    if keys != outside.count(b":") or depth >= MAX_DEPTH or _LONG_NUMBER.search(outside):
        return parse_json(data, source)
    return value
