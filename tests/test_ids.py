"""Ids as digests: one module makes every id, and the bytes it hashes are those of every log written."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from suitability.ids import client_key, digest_id, parts_id
from suitability.models import Client, age_on, as_instant
from suitability.review.query import _client_age

clients = st.builds(
    Client,
    client_id=st.from_regex(r"[A-Z]{2}-[0-9]{1,6}", fullmatch=True),
    investor_type=st.sampled_from(["ordinary", "professional"]),
    birth_date=st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2026, 1, 1))),
    full_civil_capacity=st.booleans(),
) | st.builds(Client, client_id=st.just("CN-1"), age=st.integers(0, 120))


# The keys exactly as scoring.py and matching.py wrote them before they moved here.
def _assessment_key_then(client: Client) -> str:
    facts: list[object] = [client.client_id, client.investor_type, str(client.birth_date), client.full_civil_capacity]
    if client.age is not None:
        facts.append(client.age)
    return orjson.dumps(facts).decode()


def _decision_key_then(client: Client) -> str:
    key = f"{client.client_id}\x1f{client.birth_date}\x1f{client.investor_type}\x1f{client.full_civil_capacity}"
    return key if client.age is None else f"{key}\x1fage={client.age}"


@given(clients)
def test_the_client_key_is_the_one_every_id_was_made_with(client: Client) -> None:
    """Rule: ids are unchanged byte for byte; the client key of each form is what it always was."""
    assert client_key(client, "assessment") == _assessment_key_then(client)
    assert client_key(client, "decision") == _decision_key_then(client)
    assert client_key(None, "assessment") == "null"


def test_digest_ids_are_the_prefix_and_32_hex_digits_of_sha256() -> None:
    material = b"a\x1fb"
    expected = "asm_" + hashlib.sha256(material).hexdigest()[:32]
    assert digest_id("asm_", material) == expected
    running = hashlib.sha256(b"a")
    running.update(b"\x1fb")
    assert digest_id("asm_", running) == expected
    parts = ["dec_1", "sha256:00", "I insist", "staff-01", "branch", "2026-01-01T00:00:00+00:00"]
    then = "cnf_" + hashlib.sha256(orjson.dumps(parts, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    assert parts_id("cnf_", list(parts)) == then


@given(st.dates(date(1900, 1, 1), date(2100, 1, 1)), st.integers(0, 40_000))
def test_age_is_computed_by_one_rule_for_models_and_review_rows(born: date, days: int) -> None:
    """Rule: a client's age is computed in one place (the model, the review rows and the engine agree)."""
    when = born + timedelta(days=days)
    age = age_on(born, when)
    assert age == Client(client_id="CN-1", birth_date=born).age_at(when)
    assert age == _client_age({"birth_date": born.isoformat()}, f"{when.isoformat()}T12:00:00Z")
    assert age == when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def test_as_instant_returns_an_aware_utc_datetime_itself_and_converts_the_rest() -> None:
    utc = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert as_instant(utc) is utc
    shanghai = datetime(2026, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    assert as_instant(shanghai) == utc and as_instant(shanghai).tzinfo is UTC
    assert as_instant(date(2026, 3, 1)) == datetime(2026, 3, 1, tzinfo=UTC)
