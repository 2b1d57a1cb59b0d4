"""The fast canonical form is RFC 8785 (issue: records stored as the exact bytes that were hashed)."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability.codec import canonical_bytes, is_canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=1_000)  # the fast path's float and astral detection must never miss
@given(value=json_values)
def test_canonical_bytes_equal_the_reference(value: Any) -> None:
    """canonical_bytes is byte-for-byte rfc8785.dumps for every JSON value (floats, astral keys included)."""
    assert canonical_bytes(value) == rfc8785.dumps(value)


@given(value=json_values)
def test_canonical_bytes_are_recognized_as_canonical(value: Any) -> None:
    """What canonical_bytes writes, is_canonical accepts."""
    assert is_canonical(canonical_bytes(value))


@given(value=json_values, indent=st.sampled_from([1, 2]))
def test_other_serializations_are_not_canonical(value: Any, indent: int) -> None:
    """Indented JSON of a container is not the canonical form."""
    import json

    text = json.dumps(value, indent=indent, ensure_ascii=False).encode()
    assert is_canonical(text) == (text == rfc8785.dumps(value))
