"""Strict JSON input, canonical bytes and content hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from suitability.codec import MAX_DEPTH, MAX_INPUT_BYTES, canonical_bytes, content_hash, parse_json, read_json
from suitability.errors import InputError

from .conftest import DATA


def only_problem(exc: pytest.ExceptionInfo[InputError]) -> tuple[str, int | None, int | None]:
    (problem,) = exc.value.problems
    return problem.message, problem.line, problem.column


def test_parses_plain_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-invalid-json.json")
    message, line, column = only_problem(exc)
    assert "invalid JSON" in message
    assert "':' delimiter" in message
    assert (line, column) == (4, 21)
    assert "answers-invalid-json.json:4:21" in exc.value.render()


def test_bom_is_refused() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-bom.json")
    assert "byte order mark" in only_problem(exc)[0]


def test_non_utf8_names_the_byte() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-not-utf8.json")
    message, line, column = only_problem(exc)
    assert "0xff" in message
    assert line == 1
    assert column == 28


def test_duplicate_keys_are_refused_with_their_line() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-duplicate-key.json")
    message, line, _ = only_problem(exc)
    assert "'age' twice" in message
    assert line == 4


def test_nan_is_refused() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-nan.json")
    assert "NaN" in only_problem(exc)[0]


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-deeply-nested.json")
    assert f"at most {MAX_DEPTH} deep" in only_problem(exc)[0]


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(text.encode()) is not None


def test_extremely_deep_nesting_does_not_crash() -> None:
    with pytest.raises(InputError):
        parse_json(b"[" * 200_000 + b"]" * 200_000)


def test_oversized_file_is_refused_before_reading() -> None:
    assert (DATA / "answers-oversize.json").stat().st_size > MAX_INPUT_BYTES
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-oversize.json")
    assert "input too large" in only_problem(exc)[0]


def test_missing_file_and_folder() -> None:
    with pytest.raises(InputError, match="found nothing at this path"):
        read_json(DATA / "no-such-file.json")
    with pytest.raises(InputError, match="found a folder"):
        read_json(DATA)


def test_canonical_bytes_follow_rfc8785() -> None:
    assert canonical_bytes({"b": 1, "a": [True, None, "é"], "c": 1.0}) == b'{"a":[true,null,"\xc3\xa9"],"b":1,"c":1}'


def test_content_hash_ignores_order_and_whitespace() -> None:
    one = parse_json(b'{"a": 1, "b": {"c": [1, 2]}}')
    two = parse_json(b'{\n  "b": {"c": [1,2]},\n  "a": 1\n}')
    assert content_hash(one) == content_hash(two)
    assert content_hash(one).startswith("sha256:")
    assert len(content_hash(one)) == 7 + 64
    assert content_hash(one) != content_hash(parse_json(b'{"a": 1, "b": {"c": [2, 1]}}'))


def test_integer_outside_the_json_safe_range_cannot_be_canonicalized() -> None:
    with pytest.raises(InputError, match="JSON-safe"):
        canonical_bytes({"n": 2**60})


# --- issue 10: numbers that are not finite and strings that are not text -----------------------


@pytest.mark.parametrize(
    ("name", "found"),
    [("answers-overflow-number.json", "1e400 (it overflows to infinity)"), ("answers-infinity.json", "-Infinity")],
)
def test_numbers_that_are_not_finite_are_refused_where_they_stand(name: str, found: str) -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / name)
    message, line, column = only_problem(exc)
    assert f"expected a finite JSON number, found {found}" in message
    assert (line, column) == (3, 12)


def test_a_lone_surrogate_in_a_key_is_refused_with_its_place() -> None:
    with pytest.raises(InputError) as exc:
        read_json(DATA / "answers-lone-surrogate-key.json")
    (problem,) = exc.value.problems
    assert "lone surrogate in the key '\\ud800'" in problem.message
    assert problem.pointer == "/answers/\\ud800"  # escaped: the message itself must be printable
    assert (problem.line, problem.column) == (3, 6)
    exc.value.render().encode("utf-8")  # printable as it stands


def test_surrogate_pairs_and_escaped_backslashes_are_text() -> None:
    assert parse_json(b'["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (float("nan"), ""),
        ([1, float("inf")], "/1"),
        ({"a": {"b": -float("inf")}}, "/a/b"),
        ({"a": None, "b": float("nan")}, "/b"),
    ],
)
def test_canonical_bytes_refuse_floats_that_are_not_finite(value: object, where: str) -> None:
    """orjson writes NaN and ±Infinity as null: NaN would have hashed as None does."""
    with pytest.raises(InputError) as exc:
        canonical_bytes(value)
    (problem,) = exc.value.problems
    assert problem.pointer == where
    assert "expected a finite number" in problem.message
    with pytest.raises(InputError):
        content_hash(value)


@pytest.mark.parametrize("value", [{"\ud800": 1}, {"a": ["x\udfff"]}, {"\U0001f600": {"\udc00": 1}}])
def test_canonical_bytes_refuse_lone_surrogates(value: object) -> None:
    with pytest.raises(InputError) as exc:
        canonical_bytes(value)
    assert "lone surrogate" in exc.value.render()
    exc.value.render().encode("utf-8")


def test_one_decoder_reads_every_text_input_alike(tmp_path: Path) -> None:
    """JSON, CSV catalogs, keys and checkpoints are decoded by one rule: UTF-8, no BOM, the bad byte named."""
    from suitability.codec import decode_text, read_text
    from suitability.product import load_catalog

    assert decode_text("é\n".encode(), "x") == "é\n"
    for data, where, message in ((b"\xef\xbb\xbf{}", (1, 1), "byte order mark"), (b'{\n "a\xe9": 1}', (2, 4), "0xe9")):
        for path in (tmp_path / "in.json", tmp_path / "in.csv", tmp_path / "in.pub"):
            path.write_bytes(data)
            with pytest.raises(InputError) as exc:
                {".json": read_json, ".csv": load_catalog, ".pub": read_text}[path.suffix](path)
            text, line, column = only_problem(exc)
            assert message in text and (line, column) == where, (path.name, text, line, column)


def test_encodings_are_explicit_and_a_bom_is_stripped_only_when_asked() -> None:
    """Excel exports (UTF-8 with a BOM, GB18030) are read only when the encoding is named."""
    from suitability.codec import decode_text

    text = "产品,名称\n"
    with pytest.raises(InputError, match="BOM"):
        decode_text(b"\xef\xbb\xbf" + text.encode(), "x.csv")
    assert decode_text(b"\xef\xbb\xbf" + text.encode(), "x.csv", "utf-8-sig") == text
    assert decode_text(text.encode(), "x.csv", "utf-8-sig") == text  # no BOM is fine too
    with pytest.raises(InputError, match="BOM"):  # one BOM is stripped, a second is still refused
        decode_text(b"\xef\xbb\xbf\xef\xbb\xbfa", "x", "utf-8-sig")
    with pytest.raises(InputError, match="expected UTF-8 text"):
        decode_text(text.encode("gb18030"), "x.csv")
    assert decode_text(text.encode("gb18030"), "x.csv", "gb18030") == text
    with pytest.raises(InputError) as bad:
        decode_text("a\n\x81".encode("latin-1"), "x.csv", "gb18030")
    assert "x.csv:2:1: expected GB18030 text" in bad.value.render()
    with pytest.raises(InputError, match="encoding"):
        decode_text(b"a", "x", "latin-1")
