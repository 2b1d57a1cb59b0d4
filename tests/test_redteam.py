"""Red-team attacks that got through after issue 10: each test performs one and fails on the code it found."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from suitability import Client, DecisionError
from suitability.engine import Engine
from suitability.log.sqlite import SQLiteStore

from .conftest import EXAMPLES
from .test_audit import built, checkpoint_cli, cli_run, keys, log, tamper
from .workload import CATALOG, REGISTRY

__all__ = ["built", "log"]  # fixtures used here

AS_OF = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
R4 = next(p for p in CATALOG if p.id == "FUND-EQ-01")


def _answers(**change: str) -> dict[str, Any]:
    answers: dict[str, Any] = json.loads((EXAMPLES / "answers.json").read_text())["answers"]
    return {**answers, **change}


# --- facts at decide time ------------------------------------------------------------------------


def test_an_age_given_in_place_of_the_birth_date_drops_special_care(tmp_path: Path) -> None:
    """Under a pseudonymization key the assessment records the age (64). Sixty days later the client is
    65; the salesperson passes {"age": 64} instead of the birth date, inside the tolerance the fact
    check allows, and SPECIAL_CARE_REQUIRED disappears. The log verifies and replays."""
    engine = Engine(REGISTRY, SQLiteStore(tmp_path / "log.sqlite3"), pseudonym_key=b"firm-key")
    client = Client(client_id="CN-1", birth_date="1961-12-10")  # 65 on 2026-12-10
    assessment = engine.assess("cn-securities-individual", _answers(), client, AS_OF)
    later = AS_OF + timedelta(days=60)
    honest = engine.decide(assessment, R4, client, "cn-csrc", "client", later)
    assert "SPECIAL_CARE_REQUIRED" in [r.code for r in honest.reasons]
    try:
        lied = engine.decide(assessment, R4, Client(client_id="CN-1", age=64), "cn-csrc", "client", later)
    except DecisionError:
        return  # refused: the attack failed
    assert "SPECIAL_CARE_REQUIRED" in [r.code for r in lied.reasons]


def test_a_client_without_a_birth_date_who_answered_over_70_gets_no_special_care(tmp_path: Path) -> None:
    """Leave the birth date out of the client facts: the questionnaire's own "over 70" answer caps the
    profile at C2, but an R4 purchase needs no special-care warning."""
    engine = Engine(REGISTRY, SQLiteStore(tmp_path / "log.sqlite3"))
    client = Client(client_id="CN-2")
    assessment = engine.assess("cn-securities-individual", _answers(age="over_70"), client, AS_OF)
    assert assessment.profile == "C2"
    try:
        decision = engine.decide(assessment, R4, client, "cn-csrc", "client", AS_OF)
    except DecisionError:
        return  # refused: the attack failed
    assert "SPECIAL_CARE_REQUIRED" in [r.code for r in decision.reasons]


def test_a_stale_decision_is_confirmed_after_its_assessment_expired(tmp_path: Path) -> None:
    """Make a requires_confirmation decision while the client is 64, keep it, and confirm it three
    years later: long after the assessment expired and the client turned 65."""
    engine = Engine(REGISTRY, SQLiteStore(tmp_path / "log.sqlite3"))
    client = Client(client_id="CN-3", birth_date="1962-06-01")
    assessment = engine.assess("cn-securities-individual", _answers(), client, AS_OF)
    decision = engine.decide(assessment, R4, client, "cn-csrc", "client", AS_OF)
    assert decision.outcome == "requires_confirmation"
    with pytest.raises(DecisionError):
        engine.confirm(decision, "I insist", "staff-1", "app", confirmed_at=AS_OF + timedelta(days=3 * 365))
    with pytest.raises(DecisionError):
        engine.confirm(decision, "I insist", "staff-1", "app", confirmed_at=AS_OF - timedelta(days=30))


# --- the routine checkpoint job ------------------------------------------------------------------


def test_checkpoint_job_refuses_a_rewrite_hidden_behind_a_replayed_old_note(log: Path, tmp_path: Path) -> None:
    """Kept checkpoints are append-only, but appending is allowed (the PostgreSQL app role holds INSERT
    on them). Rewrite a record covered by kept checkpoint #2 only, then append a copy of kept #1
    (smaller, genuinely signed): the job proved consistency with the latest kept note alone and signed."""
    key, _ = keys(tmp_path)
    size = SQLiteStore(log).size()
    assert checkpoint_cli(log, key, tmp_path / "cp1.txt").exit_code == 0
    from .workload import mixed_workload

    mixed_workload(SQLiteStore(log), clients=1, seed=4242)
    assert checkpoint_cli(log, key, tmp_path / "cp2.txt").exit_code == 0
    victim = next(s for s in range(size, size + 100) if _type(log, s) == "decision")
    tamper(log, victim, {"outcome": "suitable", "reasons": [], "warnings": []})
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("INSERT INTO checkpoints SELECT size, note, public_key FROM checkpoints ORDER BY rowid LIMIT 1")
    db.close()
    signed = checkpoint_cli(log, key, tmp_path / "cp3.txt")
    assert signed.exit_code == 10, signed.output
    assert not (tmp_path / "cp3.txt").exists()


def _type(path: Path, seq: int) -> str | None:
    stored = SQLiteStore(path).get(seq)
    return None if stored is None else str(json.loads(stored.data)["type"])


# --- audit query bounds --------------------------------------------------------------------------


@pytest.mark.parametrize("bound", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_query_bound_at_the_edge_of_time_is_a_usage_error(log: Path, bound: str) -> None:
    for option in ("--since", "--until"):
        result = cli_run("audit", "query", str(log), option, bound)
        assert result.exit_code == 2, result.output


# --- PostgreSQL: the app role and the SECURITY DEFINER functions --------------------------------

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def schema_with_creating_app() -> Iterator[tuple[str, str, str]]:
    """A log schema owned by a plain owner role, and an app role that may CREATE in it (PostgreSQL 14's
    default for the public schema, or an older setup's GRANT ALL ON SCHEMA)."""
    from .test_store_pg import _PROBLEM, BASE

    if _PROBLEM is not None:
        pytest.skip(f"no PostgreSQL server ({_PROBLEM})")
    tag = uuid.uuid4().hex[:10]
    schema, owner, app = f"rt_{tag}", f"rt_owner_{tag}", f"rt_app_{tag}"
    admin = psycopg.connect(BASE, autocommit=True)
    db = admin.execute("SELECT current_database()").fetchone()[0]
    admin.execute(f"CREATE ROLE {owner} LOGIN")
    admin.execute(f"CREATE ROLE {app} LOGIN")
    admin.execute(f'GRANT CREATE ON DATABASE "{db}" TO {owner}')
    admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    admin.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {app}")
    yield schema, owner, app
    for role in (app, owner):
        admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    admin.execute(f"DROP SCHEMA {schema} CASCADE")
    for role in (app, owner):
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
    admin.close()


def test_the_app_role_cannot_hijack_the_append_function_by_shadowing_a_builtin(
    schema_with_creating_app: tuple[str, str, str],
) -> None:
    """suitability_append runs as the owner with search_path = <log schema>, pg_temp. An app role that
    can CREATE in that schema defines cardinality(bigint[]), an exact-type overload that beats
    pg_catalog.cardinality(anyarray), and calls the append function: its code runs as the owner,
    disables the triggers and deletes a record."""
    from urllib.parse import quote

    from suitability.errors import LogError
    from suitability.log import open_store
    from suitability.log.postgres import upgrade

    from .test_store_pg import BASE

    schema, owner, app = schema_with_creating_app
    joiner = "&" if "?" in BASE else "?"
    url = f"{BASE}{joiner}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(f"{url}&user={owner}", app_role=app)
    except LogError:
        return  # refused to set up an app role that can create objects in the log's schema
    engine = Engine(REGISTRY, open_store(f"{url}&user={app}"))
    engine.assess("cn-securities-individual", _answers(), Client(client_id="CN-4"), AS_OF)
    engine.store.close()  # type: ignore[attr-defined]
    with psycopg.connect(f"{url}&user={app}", autocommit=True) as conn:
        try:
            conn.execute(
                f"""CREATE FUNCTION {schema}.cardinality(a bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
                BEGIN
                    EXECUTE 'ALTER TABLE {schema}.records DISABLE TRIGGER USER';
                    EXECUTE 'GRANT DELETE ON {schema}.records TO {app}';
                    RETURN pg_catalog.cardinality(a);
                END $$"""
            )
            conn.execute(
                "SELECT suitability_append(ARRAY[]::bigint[], ARRAY[]::text[], ARRAY[]::text[],"
                " ARRAY[]::bytea[], ARRAY[]::bytea[])"
            )
            conn.execute("DELETE FROM records WHERE seq = 1")
        except psycopg.errors.InsufficientPrivilege:
            return  # the attack failed
        except psycopg.Error:
            return
        count = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert count == 2, "the app role deleted a record through the owner's SECURITY DEFINER function"
