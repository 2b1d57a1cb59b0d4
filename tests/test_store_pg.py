"""The PostgreSQL store, against a real server.

The server is named by SUITABILITY_TEST_POSTGRES_URL (default: postgresql://127.0.0.1:5432/test,
the one this project's machines run). Each test gets a schema of its own. Without a reachable
server these tests are skipped with a message naming that variable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest

from suitability.errors import LogError
from suitability.log import export as audit_export
from suitability.log import open_store
from suitability.log import verify as audit_verify
from suitability.log.postgres import LATEST, PostgresStore, upgrade
from suitability.log.sqlite import SQLiteStore
from suitability.replay import replay as replay_log

from .conftest import ROOT
from .workload import kill_a_writer, mixed_workload, run_writers

ENV = "SUITABILITY_TEST_POSTGRES_URL"
BASE = os.environ.get(ENV, "postgresql://127.0.0.1:5432/test")

psycopg = pytest.importorskip(
    "psycopg", reason=f"psycopg is not installed (pip install '.[test]'); {ENV} names the server"
)


def _reachable() -> str | None:
    try:
        psycopg.connect(BASE, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


_PROBLEM = _reachable()
pytestmark = pytest.mark.skipif(
    _PROBLEM is not None, reason=f"no PostgreSQL server at {ENV}={BASE} ({_PROBLEM}); set {ENV} to run these tests"
)


_OPEN: list[object] = []


def request_close(store: object) -> None:
    """Close this store when the test ends (before its schema is dropped)."""
    _OPEN.append(store)


@pytest.fixture
def url() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg.connect(BASE, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in BASE else "?"
    yield f"{BASE}{joiner}options={quote(f'-csearch_path={schema}')}"
    while _OPEN:
        _OPEN.pop().close()  # type: ignore[attr-defined]
    admin.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


def test_migrations_are_versioned_and_idempotent(url: str) -> None:
    with pytest.raises(LogError, match="db upgrade"):
        PostgresStore(url)
    assert upgrade(url) == [
        "001 records, checkpoints and append-only triggers",
        "002 append-only checkpoints, gap-checked appends through owner functions",
        "003 lookups by key through an index on (key, seq)",
        "004 one record appended through a function of scalar arguments; append plans that never scan the log",
    ]
    assert upgrade(url) == []
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT MAX(version) FROM suitability_migrations").fetchone()[0] == LATEST
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)


def test_a_workload_verifies_and_replays(url: str) -> None:
    upgrade(url)
    store = open_store(url)
    request_close(store)
    counts = mixed_workload(store, clients=4, seed=11)
    assert store.size() == sum(counts.values()) + 3  # one questionnaire and two policy artifacts
    assert audit_verify.verify(store).ok
    replayed = replay_log(store)
    assert replayed.ok, replayed.differences[:2] or replayed.errors[:2]
    first = store.get(1)
    assert first is not None and orjson.loads(first.data)["type"] == "assessment"
    found = store.find(orjson.loads(first.data)["result"]["id"])
    assert found == first


def test_updates_and_deletes_are_refused_by_the_database(url: str) -> None:
    upgrade(url)
    with open_store(url) as store:
        mixed_workload(store, clients=1)
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in (
            "UPDATE records SET data = 'x'::bytea WHERE seq = 1",
            "DELETE FROM records WHERE seq = 1",
            "TRUNCATE records",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)


def test_eight_processes_append_at_once(url: str) -> None:
    upgrade(url)
    acked = run_writers(url, writers=8, appends=500, batch=1)
    assert len(acked) == 8 * 500
    store = open_store(url)
    request_close(store)
    assert store.size() == 8 * 500 + 1
    for seq, data, _ in store.scan():
        if seq in acked:
            assert orjson.loads(data)["result"]["id"] == acked[seq]
    assert audit_verify.verify(store).ok


def test_a_killed_writer_loses_no_acknowledged_record(url: str) -> None:
    upgrade(url)
    acked = kill_a_writer(url)
    store = open_store(url)
    request_close(store)
    for seq, ident in acked.items():
        stored = store.get(seq)
        assert stored is not None and orjson.loads(stored.data)["result"]["id"] == ident
    assert audit_verify.verify(store).ok


def test_a_sqlite_log_copied_into_postgres_keeps_its_root(url: str, tmp_path: Path) -> None:
    from suitability.log.checkpoint import Checkpoint, Signer

    lite = SQLiteStore(tmp_path / "log.sqlite3")
    mixed_workload(lite, clients=3, seed=12)
    signer = Signer.generate("auditor")
    early = audit_verify.verify(lite)
    lite.add_checkpoint(
        early.size, Checkpoint("test/log", early.size, early.root).sign(signer), signer.verifier().text()
    )
    mixed_workload(lite, clients=1, seed=13)
    before = audit_verify.verify(lite)
    lite.add_checkpoint(
        before.size, Checkpoint("test/log", before.size, before.root).sign(signer), signer.verifier().text()
    )
    upgrade(url)
    pg = open_store(url)
    request_close(pg)
    assert audit_export.copy_log(lite, pg) == before.size
    after = audit_verify.verify(pg)
    assert after.ok and after.root == before.root and after.size == before.size
    assert pg.checkpoints() == lite.checkpoints()  # every kept checkpoint comes along, not only the latest
    with pytest.raises(LogError, match="not empty"):
        audit_export.copy_log(lite, pg)
    # an export from PostgreSQL has the form of one from SQLite, and passes the same verify.py
    audit_export.export(lite, tmp_path / "from-sqlite")
    audit_export.export(pg, tmp_path / "from-postgres")
    for name in ("records.jsonl", "checkpoint.txt", "public-key.txt", "verify.py", "manifest.json"):
        assert (tmp_path / "from-sqlite" / name).read_bytes() == (tmp_path / "from-postgres" / name).read_bytes()
    run = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "from-postgres" / "verify.py"),
            *("--public-key", signer.verifier().text(), "--origin", "test/log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip().endswith("VERIFIED")


def test_cli_on_postgres(url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from suitability.cli import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "verify", url]).exit_code == 9  # no schema yet
    assert "applied 001" in runner.invoke(cli, ["db", "upgrade", url]).output
    assert "already current" in runner.invoke(cli, ["db", "upgrade", url]).output
    examples = ROOT / "examples"
    assessed = runner.invoke(cli, ["assess", "--log", url, "--questionnaire", "cn-securities-individual", "--answers",
                                   str(examples / "answers.json"), "--client", str(examples / "client.json"), "--json"])  # fmt: skip
    assert assessed.exit_code == 0, assessed.output
    for command in (
        ["audit", "verify", url, "--allow-no-checkpoint"],
        ["audit", "replay", url],
        ["audit", "query", url, "--type", "assessment"],
    ):
        done = runner.invoke(cli, command)
        assert done.exit_code == 0, done.output
    report = runner.invoke(cli, ["audit", "report", url, "--out", str(tmp_path / "r.html")])
    assert report.exit_code == 0 and (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    missing = runner.invoke(cli, ["db", "upgrade", str(tmp_path / "x.sqlite3")])  # a SQLite log must exist
    assert missing.exit_code == 9 and "no decision log" in missing.output


# --- issue 10: kept checkpoints, gaps, the application role ------------------------------------


def test_kept_checkpoints_are_append_only(url: str) -> None:
    upgrade(url)
    with open_store(url) as store:
        store.add_checkpoint(0, "note", "key")
        assert [(c.number, c.size) for c in store.checkpoints()] == [(1, 0)]
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in ("UPDATE checkpoints SET size = 9", "DELETE FROM checkpoints", "TRUNCATE checkpoints"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)


def test_an_append_refuses_to_write_after_a_far_ahead_seq(url: str) -> None:
    """An insider inserts seq 1000 into a 3-record log: every append refuses, naming the gap (exit 9)."""
    upgrade(url)
    with open_store(url) as store:
        mixed_workload(store, clients=1)
        size = store.size()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO records VALUES (%s, 'note', NULL, '\\x7b7d', %s)", (size + 1000, b"\0" * 32))
    with open_store(url) as store:
        with pytest.raises(LogError, match="gap") as caught:
            mixed_workload(store, clients=1, seed=2)
        assert f"expected seq {size} next, found seq {size + 1000}" in caught.value.render()
        assert store.get(size) is None


def _app_url(url: str, role: str) -> str:
    return f"{url}&user={role}"


@pytest.fixture
def app_role(url: str) -> Iterator[str]:
    role = "suitability_app_" + uuid.uuid4().hex[:10]
    admin = psycopg.connect(BASE, autocommit=True)
    admin.execute(f"CREATE ROLE {role} LOGIN")
    yield role
    admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    admin.execute(f"DROP OWNED BY {role}")
    admin.execute(f"DROP ROLE {role}")
    admin.close()


def test_the_app_role_appends_and_reads_but_cannot_rewrite(url: str, app_role: str) -> None:
    """db upgrade --app-role: the role appends (gap-free, several writers) and reads, and nothing else."""
    from click.testing import CliRunner

    from suitability.cli import cli

    done = CliRunner().invoke(cli, ["db", "upgrade", url, "--app-role", app_role])
    assert done.exit_code == 0 and f"role {app_role}" in done.output, done.output
    app = _app_url(url, app_role)
    acked = run_writers(app, writers=4, appends=30, batch=1)  # four processes as the app role
    assert len(acked) == 4 * 30
    with open_store(app) as store:
        assert store.size() == 4 * 30 + 1 and audit_verify.verify(store).ok
        store.add_checkpoint(1, "note", "key")  # keeping a checkpoint is allowed
    with psycopg.connect(app, autocommit=True) as conn:
        for sql in (
            "UPDATE records SET data = 'x'::bytea WHERE seq = 1",
            "DELETE FROM records WHERE seq = 1",
            "TRUNCATE records",
            "ALTER TABLE records DISABLE TRIGGER records_append_only",
            "ALTER TABLE records DISABLE TRIGGER USER",
            "ALTER TABLE records ADD COLUMN x int",
            "DROP TABLE records",
            "INSERT INTO records VALUES (100000, 'note', NULL, '\\x7b7d', decode(repeat('00', 32), 'hex'))",
            "UPDATE checkpoints SET size = 9",
            "DELETE FROM checkpoints",
            "TRUNCATE checkpoints",
            "ALTER TABLE checkpoints DISABLE TRIGGER USER",
            "UPDATE log_head SET contiguous = 0",
            "CREATE TRIGGER t BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION suitability_append_only()",
            "SELECT * FROM records FOR UPDATE",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # The append function itself refuses rows that do not continue the log where it ends.
        with pytest.raises(psycopg.errors.RaiseException, match="must continue the log"):
            conn.execute(
                "SELECT suitability_append(ARRAY[100000]::bigint[], ARRAY['note'], ARRAY[NULL]::text[],"
                " ARRAY['\\x7b7d'::bytea], ARRAY[decode(repeat('00', 32), 'hex')])"
            )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 4 * 30 + 1


def test_an_unfit_app_role_is_refused(url: str) -> None:
    upgrade(url)
    with psycopg.connect(BASE) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]
    with pytest.raises(LogError, match="cannot be the application role"):
        upgrade(url, app_role=owner)  # the owner (here also a superuser)
    with pytest.raises(LogError, match="no role"):
        upgrade(url, app_role="no_such_role_" + uuid.uuid4().hex[:8])


def test_a_log_of_schema_version_1_is_upgraded_and_appended_to(url: str) -> None:
    """A log written before migration 2: upgrade adds the triggers and functions, appends continue."""
    from suitability.log.postgres import MIGRATIONS

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE suitability_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        conn.execute(MIGRATIONS[0][2])
        conn.execute("INSERT INTO suitability_migrations (version, name) VALUES (1, 'v1')")
        for seq in range(3):
            data = orjson.dumps({"seq": seq, "type": "note"})
            conn.execute("INSERT INTO records VALUES (%s, 'note', NULL, %s, sha256('\\x00'::bytea || %s))",
                         (seq, data, data))  # fmt: skip
        conn.execute("INSERT INTO checkpoints (size, note, public_key) VALUES (3, 'n', 'k')")
    assert upgrade(url) == [
        "002 append-only checkpoints, gap-checked appends through owner functions",
        "003 lookups by key through an index on (key, seq)",
        "004 one record appended through a function of scalar arguments; append plans that never scan the log",
    ]
    with open_store(url) as store:
        mixed_workload(store, clients=1)
        report = audit_verify.verify(store)  # (5) objects to the old "note" records, which name nothing
        assert all(check.ok for check in report.checks[:4]) and report.size == store.size() > 3
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("DELETE FROM checkpoints")


def test_a_column_retyped_by_the_owner_is_reported_altered_on_every_read_path(url: str) -> None:
    """The owner retypes the record bytes and a kept checkpoint's size to text (ALTER TABLE): every read
    path says the log was altered (exit 10), never a TypeError or ValueError (exit 70)."""
    from click.testing import CliRunner

    from suitability.cli import cli
    from suitability.errors import IntegrityError

    upgrade(url)
    with open_store(url) as store:
        mixed_workload(store, clients=1)
        store.add_checkpoint(1, "note", "key")
    with psycopg.connect(url, autocommit=True) as conn:
        (key,) = conn.execute("SELECT key FROM records WHERE key IS NOT NULL ORDER BY seq LIMIT 1").fetchone()
        conn.execute("ALTER TABLE records ALTER COLUMN data TYPE text USING encode(data, 'escape')")
        conn.execute("ALTER TABLE checkpoints ALTER COLUMN size TYPE text")
    store = PostgresStore(url)
    request_close(store)
    for name, read in {
        "scan": lambda: list(store.scan()),
        "get": lambda: store.get(1),
        "find": lambda: store.find(key),
        "checkpoints": store.checkpoints,
        "latest_checkpoint": store.latest_checkpoint,
        "public_key": store.public_key,
    }.items():
        with pytest.raises(IntegrityError, match="altered") as caught:
            read()
        assert "stored" in caught.value.render(), name
    for args in (["audit", "verify", url, "--allow-no-checkpoint"], ["audit", "replay", url], ["audit", "query", url]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 10 and "altered" in result.output, (args, result.output)
