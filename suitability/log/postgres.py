"""The PostgreSQL decision-log store, for many app servers writing one log.

Same contract as :class:`~suitability.log.sqlite.SQLiteStore` (exact bytes, durable before a result
is returned, append-only triggers). One log per schema, changed only by versioned migrations, with an
owner and an application role (docs/adr/0004-one-log-per-postgresql-schema.md); appends go through
two ``SECURITY DEFINER`` functions that take the table lock and refuse a gap
(docs/adr/0005-gap-free-sequence.md). Reads stream through server-side cursors.
psycopg 3 is an optional dependency: ``pip install 'suitability[postgres]'``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import LogError, Problem
from .store import (
    Draft,
    KeptCheckpoint,
    LogStore,
    Row,
    Stored,
    altered,
    check_continues,
    kept_checkpoint,
    layout,
    now_text,
)

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "records, checkpoints and append-only triggers",
        """
        CREATE TABLE records (
            seq BIGINT PRIMARY KEY CHECK (seq >= 0),
            type TEXT NOT NULL,
            key TEXT,
            data BYTEA NOT NULL,
            leaf BYTEA NOT NULL CHECK (length(leaf) = 32)
        );
        CREATE INDEX records_key ON records (key);
        CREATE TABLE checkpoints (
            id BIGSERIAL PRIMARY KEY,
            size BIGINT NOT NULL,
            note TEXT NOT NULL,
            public_key TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE FUNCTION suitability_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the decision log is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
        END $$;
        CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records
            FOR EACH ROW EXECUTE FUNCTION suitability_append_only();
        CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
            FOR EACH STATEMENT EXECUTE FUNCTION suitability_append_only();
        """,
    ),
    (
        2,
        "append-only checkpoints, gap-checked appends through owner functions",
        # {schema} is the log's schema, quoted: a SECURITY DEFINER function names its own
        # search_path, with pg_temp last, so a caller's temporary tables cannot stand in.
        """
        CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
            FOR EACH ROW EXECUTE FUNCTION suitability_append_only();
        CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
            FOR EACH STATEMENT EXECUTE FUNCTION suitability_append_only();
        CREATE TABLE log_head (
            one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
            contiguous BIGINT NOT NULL CHECK (contiguous >= 0)
        );
        INSERT INTO log_head (contiguous) VALUES (0);
        CREATE FUNCTION suitability_next_seq() RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
        DECLARE
            known bigint;
            size bigint;
            present bigint;
            missing bigint;
            found bigint;
        BEGIN
            LOCK TABLE records IN EXCLUSIVE MODE;
            SELECT contiguous INTO known FROM log_head;
            SELECT COALESCE(MAX(seq) + 1, 0) INTO size FROM records;
            IF size = known THEN
                RETURN size;
            END IF;
            IF size < known THEN
                RAISE EXCEPTION 'the decision log lost records: expected at least % records, found %', known, size;
            END IF;
            SELECT COUNT(*) INTO present FROM records WHERE seq >= known;
            IF present <> size - known THEN
                IF NOT EXISTS (SELECT 1 FROM records WHERE seq = known) THEN
                    missing := known;
                ELSE
                    SELECT r.seq + 1 INTO missing FROM records r
                    WHERE r.seq >= known AND NOT EXISTS (SELECT 1 FROM records n WHERE n.seq = r.seq + 1)
                    ORDER BY r.seq LIMIT 1;
                END IF;
                SELECT MIN(seq) INTO found FROM records WHERE seq > missing;
                RAISE EXCEPTION 'the decision log has a gap: expected seq % next, found seq % '
                    '(records % to % are missing); an append never writes after a gap',
                    missing, found, missing, found - 1;
            END IF;
            UPDATE log_head SET contiguous = size;
            RETURN size;
        END $$;
        CREATE FUNCTION suitability_append(seqs bigint[], types text[], keys text[], datas bytea[], leaves bytea[])
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
        DECLARE
            first bigint := suitability_next_seq();
            n bigint := COALESCE(cardinality(seqs), 0);
        BEGIN
            IF n = 0 THEN
                RETURN;
            END IF;
            IF EXISTS (SELECT 1 FROM unnest(seqs) WITH ORDINALITY AS u(s, o) WHERE s <> first + o - 1) THEN
                RAISE EXCEPTION 'records must continue the log: expected seqs % to %, found % to %',
                    first, first + n - 1, seqs[1], seqs[n];
            END IF;
            INSERT INTO records (seq, type, key, data, leaf) SELECT * FROM unnest(seqs, types, keys, datas, leaves);
            UPDATE log_head SET contiguous = first + n;
        END $$;
        REVOKE ALL ON FUNCTION suitability_next_seq() FROM PUBLIC;
        REVOKE ALL ON FUNCTION suitability_append(bigint[], text[], text[], bytea[], bytea[]) FROM PUBLIC;
        """,
    ),
    (
        3,
        "lookups by key through an index on (key, seq)",
        # `WHERE key = $1 ORDER BY seq LIMIT 1` is answered by one descent of this index whatever
        # the table's statistics say; with an index on key alone and none yet (a fresh or copied
        # log), the planner walked the primary key instead, slower the longer the log.
        """
        CREATE INDEX records_key_seq ON records (key, seq);
        DROP INDEX records_key;
        """,
    ),
    (
        4,
        "one record appended through a function of scalar arguments; append plans that never scan the log",
        # A plpgsql function keeps the plans it made at its first call in a session: made on an
        # empty log, `MAX(seq)` read a whole index ever after (an append's server time grew with
        # the log, 0.35 ms to 1.2 ms over 6,000 records, until autovacuum's ANALYZE). The head is
        # now checked by two descents of the primary key (nothing at or after the mark, the
        # record before it present), which no statistics can turn into a scan: sequential scans
        # are off in these functions (and JIT, which the cost that disables the scan of the
        # one-row log_head would set off). The rest of the check runs only when the head does
        # not match. Most appends carry one record: suitability_append_one takes it without
        # arrays to build and unnest. Every role that may call suitability_append may call it.
        """
        CREATE OR REPLACE FUNCTION suitability_next_seq() RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp
        SET enable_seqscan = off SET jit = off AS $$
        DECLARE
            known bigint;
            size bigint;
            present bigint;
            missing bigint;
            found bigint;
        BEGIN
            LOCK TABLE records IN EXCLUSIVE MODE;
            SELECT contiguous INTO known FROM log_head;
            IF NOT EXISTS (SELECT 1 FROM records WHERE seq >= known)
                AND (known = 0 OR EXISTS (SELECT 1 FROM records WHERE seq = known - 1)) THEN
                RETURN known;
            END IF;
            SELECT COALESCE(MAX(seq) + 1, 0) INTO size FROM records;
            IF size = known THEN
                RETURN size;
            END IF;
            IF size < known THEN
                RAISE EXCEPTION 'the decision log lost records: expected at least % records, found %', known, size;
            END IF;
            SELECT COUNT(*) INTO present FROM records WHERE seq >= known;
            IF present <> size - known THEN
                IF NOT EXISTS (SELECT 1 FROM records WHERE seq = known) THEN
                    missing := known;
                ELSE
                    SELECT r.seq + 1 INTO missing FROM records r
                    WHERE r.seq >= known AND NOT EXISTS (SELECT 1 FROM records n WHERE n.seq = r.seq + 1)
                    ORDER BY r.seq LIMIT 1;
                END IF;
                SELECT MIN(seq) INTO found FROM records WHERE seq > missing;
                RAISE EXCEPTION 'the decision log has a gap: expected seq % next, found seq % '
                    '(records % to % are missing); an append never writes after a gap',
                    missing, found, missing, found - 1;
            END IF;
            UPDATE log_head SET contiguous = size;
            RETURN size;
        END $$;
        CREATE FUNCTION suitability_append_one(s bigint, t text, k text, d bytea, l bytea)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp
        SET enable_seqscan = off SET jit = off AS $$
        DECLARE
            first bigint;
        BEGIN
            LOCK TABLE records IN EXCLUSIVE MODE;
            SELECT contiguous INTO first FROM log_head;
            IF EXISTS (SELECT 1 FROM records WHERE seq >= first)
                OR (first > 0 AND NOT EXISTS (SELECT 1 FROM records WHERE seq = first - 1)) THEN
                first := suitability_next_seq();
            END IF;
            IF s IS DISTINCT FROM first THEN
                RAISE EXCEPTION 'records must continue the log: expected seq %, found %', first, s;
            END IF;
            INSERT INTO records (seq, type, key, data, leaf) VALUES (s, t, k, d, l);
            UPDATE log_head SET contiguous = first + 1;
        END $$;
        REVOKE ALL ON FUNCTION suitability_append_one(bigint, text, text, bytea, bytea) FROM PUBLIC;
        DO $$
        DECLARE
            grantee text;
        BEGIN
            FOR grantee IN
                SELECT DISTINCT a.grantee::regrole::text
                FROM pg_proc p, aclexplode(p.proacl) a
                WHERE p.oid = 'suitability_append(bigint[], text[], text[], bytea[], bytea[])'::regprocedure
                    AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
            LOOP
                EXECUTE format('GRANT EXECUTE ON FUNCTION suitability_append_one(bigint, text, text, bytea, bytea) TO %s',
                    grantee);
            END LOOP;
        END $$;
        """,
    ),
)
# One descent of records_key_seq (migration 3), whatever the statistics: the plan is the same
# in a fresh log and an analyzed one.
_FIND = "SELECT seq, data FROM records WHERE key = %s ORDER BY key, seq LIMIT 1"
_EXISTS = "SELECT 1 FROM records WHERE key = %s ORDER BY key, seq LIMIT 1"
_FUNCTIONS = (
    "suitability_next_seq(), suitability_append(bigint[], text[], text[], bytea[], bytea[]),"
    " suitability_append_one(bigint, text, text, bytea, bytea)"
)
# One record: scalar arguments, the bytes sent in binary (migration 4), prepared once per connection.
_APPEND_ONE = "SELECT suitability_append_one(%s::bigint, %s::text, %s::text, %b::bytea, %b::bytea)"
LATEST = MIGRATIONS[-1][0]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the test extras install it
        raise LogError(
            "PostgreSQL logs need psycopg",
            [Problem("expected psycopg 3 to be installed: pip install 'suitability[postgres]'")],
        ) from None
    return psycopg


def _connect(url: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise LogError(
            "cannot connect to the PostgreSQL decision log",
            [Problem(f"expected a reachable PostgreSQL server at the URL given: {str(exc).strip()}")],
        ) from None


def _version(conn: Any) -> int:
    exists = conn.execute("SELECT to_regclass('suitability_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM suitability_migrations").fetchone()
    return int(row[0])


def upgrade(url: str, *, app_role: str | None = None) -> list[str]:
    """Apply every migration the database lacks, in one transaction; idempotent.

    The role connecting (the URL's user) owns what the migrations create: it is the owner role.

    Args:
        url: the log's database (and schema, through ``search_path``).
        app_role: an existing role to set up for the application: SELECT on the tables, INSERT on
            the checkpoints and EXECUTE on the append functions, and nothing else on the records.
            It must not be a superuser, nor the owner, nor a member of the owner role.

    Returns:
        What was done now (empty when the schema was already current and no role was given).

    Raises:
        LogError: a migration or a grant failed (nothing was changed), or ``app_role`` is unfit.
    """
    psycopg = _psycopg()
    conn = _connect(url)
    applied: list[str] = []
    try:
        with conn.transaction():
            # One upgrader at a time, whatever else connects.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('suitability-migrations:' || current_schema()))")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS suitability_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = _version(conn)
            schema = conn.execute("SELECT quote_ident(current_schema())").fetchone()[0]
            for version, name, sql in MIGRATIONS:
                if version > current:
                    conn.execute(sql.replace("{schema}", schema))
                    conn.execute("INSERT INTO suitability_migrations (version, name) VALUES (%s, %s)", (version, name))
                    applied.append(f"{version:03d} {name}")
            if app_role is not None:
                _grant_app_role(conn, app_role)
                applied.append(f"role {app_role}: SELECT, append through the owner's functions, INSERT checkpoints")
            conn.execute("ANALYZE records")  # the planner's statistics, for what the migrations built
    except psycopg.Error as exc:
        raise LogError("the migration failed; nothing was changed", [Problem(str(exc).strip())]) from None
    finally:
        conn.close()
    return applied


def _grant_app_role(conn: Any, role: str) -> None:
    """Give ``role`` what the application needs and nothing more (in the upgrade's transaction)."""
    from psycopg import sql

    found = conn.execute(
        "SELECT r.rolsuper, r.rolname = t.tableowner OR pg_has_role(r.rolname, t.tableowner, 'MEMBER'), t.tableowner"
        " FROM pg_roles r, pg_tables t"
        " WHERE r.rolname = %s AND t.schemaname = current_schema() AND t.tablename = 'records'",
        (role,),
    ).fetchone()
    if found is None:
        raise LogError(
            f"no role {role!r} to set up",
            [Problem(f"expected an existing role: create it first (CREATE ROLE {role} LOGIN PASSWORD '…')")],
        )
    superuser, owner_like, owner = found
    if superuser or owner_like:
        what = "a superuser" if superuser else f"the owner role {owner!r} or a member of it"
        raise LogError(
            f"role {role!r} cannot be the application role",
            [
                Problem(
                    f"expected a role that neither owns the log nor can act as its owner, found {what}: "
                    "it could ALTER the tables and disable their triggers"
                )
            ],
        )
    app = sql.Identifier(role)
    tables = sql.SQL("records, checkpoints, log_head, suitability_migrations")
    for statement in (
        "REVOKE ALL ON {tables} FROM PUBLIC",
        "REVOKE ALL ON {tables} FROM {app}",  # whatever an older setup granted (INSERT on records, say)
        "GRANT USAGE ON SCHEMA {schema} TO {app}",
        "GRANT SELECT ON {tables} TO {app}",
        "GRANT INSERT ON checkpoints TO {app}",
        "GRANT USAGE ON SEQUENCE checkpoints_id_seq TO {app}",
        f"GRANT EXECUTE ON FUNCTION {_FUNCTIONS} TO {{app}}",
        # The append functions run as the owner with the log's schema on their search_path: a role
        # that can create there could shadow a builtin they call (an exact-type overload wins).
        "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA {schema} FROM {app}",
    ):
        conn.execute(
            sql.SQL(statement).format(
                tables=tables, app=app, schema=sql.Identifier(conn.execute("SELECT current_schema()").fetchone()[0])
            )
        )
    if conn.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", (role,)).fetchone()[0]:
        raise LogError(
            f"role {role!r} cannot be the application role",
            [
                Problem(
                    "expected a role that cannot CREATE in the log's schema, found it can (through another role): "
                    "it could shadow a function the owner's append functions call and run code as the owner"
                )
            ],
        )


class PostgresStore(LogStore):
    """A decision log in PostgreSQL, shared by many connections and processes."""

    def __init__(self, url: str, *, clock: Callable[[], str] = now_text) -> None:
        self.location = url.split("@")[-1] if "@" in url else url  # never echo a password
        self._clock = clock
        self._lock = threading.RLock()
        self._artifacts: set[str] = set()
        self._expected: int | None = None  # where this store's last append left the log's end
        self._psycopg = _psycopg()
        self._url = url
        self._conn = _connect(url)
        try:
            version = _version(self._conn)
        except self._psycopg.Error as exc:
            self._conn.close()
            raise LogError(
                f"cannot read the decision log {self.location}", [Problem(f"PostgreSQL said: {str(exc).strip()}")]
            ) from None
        if version != LATEST:
            self._conn.close()
            found = "no schema" if version == 0 else f"schema version {version}"
            raise LogError(
                f"the PostgreSQL decision log at {self.location} is not ready",
                [Problem(f"expected schema version {LATEST}, found {found}: run `suitability db upgrade URL`")],
            )

    def _fail(self, exc: Exception) -> LogError:
        return LogError(
            f"cannot use the decision log {self.location}; nothing was recorded",
            [Problem(f"PostgreSQL said: {str(exc).strip()}")],
        )

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction; :meth:`_next_seq` takes the exclusive table lock in it, held to commit."""
        with self._lock:
            try:
                with self._conn.transaction():
                    yield self._conn
            except self._psycopg.Error as exc:
                raise self._fail(exc) from None

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """The connection, for a read: a driver error becomes a LogError."""
        with self._lock:
            try:
                yield self._conn
            except self._psycopg.Error as exc:
                raise LogError(
                    f"cannot read the decision log {self.location}",
                    [Problem(f"PostgreSQL said: {str(exc).strip()}")],
                ) from None

    def _bytes(self, seq: int, data: object, what: str = "bytes") -> bytes:
        if type(data) is bytes:
            return data
        if type(data) is memoryview:
            return bytes(data)
        raise altered(self.location, seq, what, data)  # a column retyped outside the store (ALTER TABLE)

    def _next_seq(self) -> int:
        """Lock out other writers to the commit, check the log is gap-free, return the next seq."""
        return int(self._conn.execute("SELECT suitability_next_seq()").fetchone()[0])

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        with self._lock:
            if self._expected is not None and all(
                (a.key or "") in self._artifacts for d in drafts for a in d.artifacts
            ):
                stored = self._append_at(self._expected, drafts)
                if stored is not None:
                    return stored
            with self._transaction() as conn:

                def exists(key: str) -> bool:
                    return conn.execute(_EXISTS, (key,)).fetchone() is not None

                rows, stored, written = layout(drafts, self._next_seq(), self._clock(), self._artifacts, exists)
                self._insert(rows)
            self._artifacts |= written
            self._expected = rows[-1][0] + 1 if rows else self._expected
            return stored

    def _append_at(self, first: int, drafts: Sequence[Draft]) -> list[Stored] | None:
        """Append in one statement, its own transaction, where this store last left the log's end.

        ``suitability_append`` takes the lock and refuses seqs that do not continue the log, so
        the guess is checked under the lock; every artifact the drafts need is known to be in the
        log already (nothing to look up first). Returns None, having written nothing, when
        another writer appended meanwhile: the caller then appends in a locked transaction.
        """
        rows, stored, _ = layout(drafts, first, self._clock(), self._artifacts, lambda key: True)
        try:
            self._insert(rows)
        except self._psycopg.errors.RaiseException as exc:
            if not str(exc).startswith("records must continue the log"):
                raise self._fail(exc) from None
            self._expected = None
            return None
        except self._psycopg.Error as exc:
            raise self._fail(exc) from None
        self._expected = first + len(rows) if rows else first
        return stored

    def _insert(self, rows: list[Row]) -> None:
        if not rows:
            return
        if len(rows) == 1:
            self._conn.execute(_APPEND_ONE, rows[0], prepare=True)
            return
        columns = [list(column) for column in zip(*rows, strict=True)]
        self._conn.execute(
            "SELECT suitability_append(%s::bigint[], %s::text[], %s::text[], %b::bytea[], %b::bytea[])", columns
        )

    def append_raw(self, rows: Sequence[Row]) -> None:
        with self._transaction():
            self._expected = None
            check_continues(self._next_seq(), rows)
            self._insert(list(rows))

    def analyze(self) -> None:
        """Refresh the planner's statistics (after a bulk load: ``db copy`` calls it)."""
        with self._reading() as conn:
            conn.execute("ANALYZE records")

    def size(self) -> int:
        with self._reading() as conn:
            row = conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        # A server-side cursor in its own connection: the log streams a page at a time, and
        # lookups on the store's connection can run while it is open.
        conn = _connect(self._url)
        try:
            with conn.transaction(), conn.cursor(name="suitability_scan") as cur:
                cur.itersize = 5_000
                cur.execute(
                    "SELECT seq, data, leaf FROM records WHERE seq >= %s AND (%s::bigint IS NULL OR seq < %s) ORDER BY seq",
                    (start, end, end),
                )
                for seq, data, leaf in cur:
                    yield seq, self._bytes(seq, data), self._bytes(seq, leaf, "leaf hash")
        except self._psycopg.Error as exc:
            raise LogError(
                f"cannot read the decision log {self.location}", [Problem(f"PostgreSQL said: {str(exc).strip()}")]
            ) from None
        finally:
            conn.close()

    def find(self, key: str) -> Stored | None:
        with self._reading() as conn:
            row = conn.execute(_FIND, (key,)).fetchone()
        return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))

    def get(self, seq: int) -> Stored | None:
        with self._reading() as conn:
            row = conn.execute("SELECT seq, data FROM records WHERE seq = %s", (seq,)).fetchone()
        return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))

    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO checkpoints (size, note, public_key) VALUES (%s, %s, %s)", (size, note, public_key)
            )

    def checkpoints(self) -> list[KeptCheckpoint]:
        with self._reading() as conn:
            rows = conn.execute("SELECT id, size, note, public_key FROM checkpoints ORDER BY id").fetchall()
        return [kept_checkpoint(self.location, *row) for row in rows]

    def latest_kept(self) -> KeptCheckpoint | None:
        with self._reading() as conn:
            row = conn.execute("SELECT id, size, note, public_key FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else kept_checkpoint(self.location, *row)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
