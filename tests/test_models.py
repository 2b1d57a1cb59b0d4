"""The shared models' helpers: reading an instant from text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suitability import parse_instant
from suitability.errors import InputError
from suitability.models import as_instant


def test_a_date_means_its_midnight_utc() -> None:
    assert parse_instant("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_instant("2026-11-28").tzinfo is UTC


def test_an_offset_is_converted_to_utc() -> None:
    found = parse_instant("2026-11-28T08:00:00+08:00")
    assert found == datetime(2026, 11, 28, 0, 0, tzinfo=UTC) and found.tzinfo is UTC
    assert parse_instant("2026-11-28T00:00:00Z") == datetime(2026, 11, 28, tzinfo=UTC)


def test_a_naive_datetime_is_refused_unless_the_caller_says_it_is_utc() -> None:
    """A datetime without an offset names no instant: the models refuse it, and so does parse_instant."""
    with pytest.raises(InputError, match="invalid instant") as caught:
        parse_instant("2026-11-28T10:00:00")
    assert "naive" in caught.value.problems[0].message
    with pytest.raises(ValueError, match="naive"):
        as_instant(datetime(2026, 11, 28, 10))  # the same rule for objects
    # the command line's --as-of has always read one as UTC, and still does, by saying so
    assert parse_instant("2026-11-28T10:00:00", naive="utc") == datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"]
)
def test_text_that_is_no_instant_in_range_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="invalid --as-of") as caught:
        parse_instant(text, naive="utc", name="--as-of")
    problem = caught.value.problems[0].message
    assert "between the years 1 and 9999" in problem and repr(text) in problem
    assert caught.value.exit_code == 3


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone(timedelta(hours=8)))
    )
)
def test_an_aware_datetime_round_trips_through_its_iso_text(when: datetime) -> None:
    """Rule: an ISO 8601 datetime with an offset is that instant, in UTC (as ``as_instant`` gives it)."""
    found = parse_instant(when.isoformat())
    assert found == when and found.tzinfo is UTC
    assert found == as_instant(when)
