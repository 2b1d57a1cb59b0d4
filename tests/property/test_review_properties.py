"""Properties of what the review prints and how its query reads time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from suitability.cli import _CONTROL, _csv_cell, _csv_line, _safe, _table
from suitability.review import ROW_FIELDS, QueryFilter

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Text as hostile as can be: escape sequences assembled from their parts, and any character at all.
PIECES = st.sampled_from(["\x1b", "[", "]", "2J", "0;", "\x07", "\\", "\x9b", "P", "8;;", "=", "+", "-", "@", "\t", "\r", "\n", "\u202e", "a", "汉"])  # fmt: skip
HOSTILE = st.one_of(st.text(), st.lists(PIECES).map("".join))


@settings(max_examples=500)
@given(text=HOSTILE)
def test_no_table_or_csv_cell_carries_a_control_character(text: str) -> None:
    """'table and CSV output strip terminal control sequences' (issue 10, item 16)."""
    assert not CONTROL.search(_safe(text))
    lines = _table([[text, "x"], ["y", text]]).split("\n")
    assert len(lines) == 2 and not any(CONTROL.search(line) for line in lines)
    cell = _csv_cell(text)
    assert not CONTROL.search(cell)


@settings(max_examples=1000)
@given(
    text=st.one_of(
        HOSTILE,
        st.text(st.characters(codec=None)),
        st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"])),
    )
)
def test_safe_text_shows_every_character_as_itself(text: str) -> None:
    """_safe returns printable text as it is, without the regular expression; any other text leaves
    it with only printable characters and spaces (control, format, separator, private-use and
    unassigned characters drawn often): nothing is hidden, no line splits under str.splitlines."""
    import unicodedata

    safe = _safe(text)
    if text.isprintable():
        assert safe == text
    assert all(c.isprintable() or unicodedata.category(c) == "Zs" for c in safe)
    assert len(safe.splitlines()) <= 1
    assert _safe(_CONTROL.sub("\ufffd", text)) == safe  # escape sequences are still replaced whole first


@settings(max_examples=500)
@given(
    value=st.recursive(
        st.one_of(st.none(), st.integers(), HOSTILE), lambda c: st.lists(c) | st.dictionaries(HOSTILE, c)
    )
)
def test_json_text_reads_back_and_shows_every_character(value: Any) -> None:
    """JSON output escapes what a terminal would not show, and reads back to the same value."""
    import json
    import unicodedata

    from suitability.cli import _json_text

    for indent in (None, 2):
        text = _json_text(value, indent)
        assert json.loads(text) == value
        assert all(c == "\n" or c.isprintable() or unicodedata.category(c) == "Zs" for c in text)


def test_every_character_the_control_pattern_matches_is_unprintable() -> None:
    """What makes _safe's fast path exact, over every code point: a printable text holds no character
    any alternative of the pattern needs (each starts with ESC or one of the listed characters)."""
    matched = [c for c in range(0x110000) if _CONTROL.match(chr(c))]
    assert len(matched) > 70 and 0x1B in matched and 0x202E in matched
    assert not [hex(c) for c in matched if chr(c).isprintable()]


@settings(max_examples=300)
@given(cells=st.lists(st.one_of(st.none(), st.integers(), HOSTILE), min_size=1, max_size=6))
def test_a_csv_line_reads_back_as_its_cells(cells: list[Any]) -> None:
    """Rows written one line at a time (as `audit query --format csv` streams them) parse back to their cells."""
    import csv
    import io

    line = _csv_line()(cells)
    assert line.endswith("\r\n")
    (row,) = list(csv.reader(io.StringIO(line, newline="")))
    assert row == ["" if c is None else str(c) for c in cells]


@settings(max_examples=500)
@given(text=HOSTILE)
def test_no_csv_text_cell_starts_a_formula(text: str) -> None:
    """'CSV output escapes cells starting with =, +, -, @, tab or CR' (OWASP CSV injection)."""
    cell = _csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    if text.isprintable():  # plain text is kept, at most behind a quote
        assert cell in (text, "'" + text)


@given(number=st.integers(min_value=-(2**63), max_value=2**63))
def test_numbers_stay_numbers_in_csv(number: int) -> None:
    assert _csv_cell(number) == number


OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
INSTANTS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=OFFSETS)


def row(recorded: datetime, as_of: datetime | None) -> dict[str, Any]:
    found: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    found.update(seq=0, reasons=[], recorded_at=recorded.isoformat(), as_of=as_of and as_of.isoformat())
    return found


@given(
    recorded=INSTANTS,
    as_of=INSTANTS,
    year=st.integers(2001, 2098),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    form=st.sampled_from(["year", "month", "day"]),
    time=st.sampled_from(["recorded", "as-of"]),
)
def test_a_time_bound_is_the_first_instant_of_its_period(
    recorded: datetime, as_of: datetime, year: int, month: int, day: int, form: str, time: str
) -> None:
    """'Parse times as ISO 8601 (date, month, year, or instant with offset)': never compared as text."""
    text, start = {
        "year": (f"{year:04d}", datetime(year, 1, 1, tzinfo=UTC)),
        "month": (f"{year:04d}-{month:02d}", datetime(year, month, 1, tzinfo=UTC)),
        "day": (f"{year:04d}-{month:02d}-{day:02d}", datetime(year, month, day, tzinfo=UTC)),
    }[form]
    at = recorded if time == "recorded" else as_of
    assert QueryFilter(since=text, time=time).matches(row(recorded, as_of)) == (at >= start)
    assert QueryFilter(until=text, time=time).matches(row(recorded, as_of)) == (at < start)
    instant = start.astimezone(timezone(timedelta(hours=8))).isoformat()
    assert QueryFilter(since=instant, time=time).matches(row(recorded, as_of)) == (at >= start)
