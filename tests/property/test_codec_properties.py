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


# --- issue 10: canonical bytes name one value; what JSON cannot carry is refused -----------------

NOT_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
LONE_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@st.composite
def with_one_inside(draw: st.DrawFn, bad: st.SearchStrategy[Any]) -> Any:
    """A JSON value with ``bad`` put somewhere inside it (at the top, in a list or under a key)."""
    value = draw(json_values)
    poison = draw(bad)
    path = draw(st.lists(st.integers(0, 3), max_size=4))
    if not isinstance(value, dict | list):
        return draw(st.sampled_from([poison, [value, poison], {"k": poison}]))
    holder: Any = value
    for step in path:  # walk down while there are containers
        children = list(holder.values()) if isinstance(holder, dict) else holder
        nested = [c for c in children if isinstance(c, dict | list)]
        if not nested:
            break
        holder = nested[step % len(nested)]
    if isinstance(holder, dict) and isinstance(poison, str) and draw(st.booleans()):
        holder[poison] = None  # as a key
    elif isinstance(holder, dict):
        holder[draw(st.text(max_size=4)) + "\x00poison"] = poison
    else:
        holder.insert(draw(st.integers(0, len(holder))), poison)
    return value


def as_doubles(value: Any) -> Any:
    """The JSON value as RFC 8785 sees it: every number an IEEE double."""
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_doubles(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


@given(value=json_values | with_one_inside(NOT_FINITE))
def test_canonical_bytes_name_one_value(value: Any) -> None:
    """canonical_bytes never maps two different parsed documents to the same bytes: whatever it
    writes parses back to the value written (every number read as the double RFC 8785 takes it
    for), so NaN can no longer be written as the null of another document."""
    from suitability.codec import parse_json
    from suitability.errors import InputError

    try:
        written = canonical_bytes(value)
    except InputError:
        return  # refused (the non-finite values): nothing written, nothing to confuse
    assert as_doubles(parse_json(written)) == as_doubles(value)


@given(value=with_one_inside(NOT_FINITE))
def test_floats_that_are_not_finite_are_refused(value: Any) -> None:
    """Any float input that is not finite is refused: never written as null."""
    import pytest

    from suitability.errors import InputError

    with pytest.raises(InputError, match="expected a finite number"):
        canonical_bytes(value)


@given(
    sign=st.sampled_from(["", "-"]),
    digits=st.integers(1, 99_999),
    exponent=st.integers(309, 100_000),
    where=st.sampled_from(["{}", "[{}]", '{{"a": [1, {}]}}']),
)
def test_number_text_that_overflows_is_refused(sign: str, digits: int, exponent: int, where: str) -> None:
    """A number written in JSON that overflows to infinity (1e400) is refused at parse time."""
    import pytest

    from suitability.codec import parse_json
    from suitability.errors import InputError

    with pytest.raises(InputError, match="expected a finite JSON number"):
        parse_json(where.format(f"{sign}{digits}e{exponent}").encode())


@given(value=with_one_inside(st.builds(lambda c, t: t + c, LONE_SURROGATES, st.text(max_size=3))))
def test_lone_surrogates_are_refused_not_crashed_on(value: Any) -> None:
    """A string or key holding a lone surrogate is an InputError, never a UnicodeError (exit 70)."""
    import json

    import pytest

    from suitability.codec import parse_json
    from suitability.errors import InputError

    with pytest.raises(InputError, match="lone surrogate"):
        canonical_bytes(value)
    with pytest.raises(InputError, match="lone surrogate"):
        parse_json(json.dumps(value).encode())
