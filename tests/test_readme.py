"""The README runs as written (as sqlite-utils checks its docs): every ```sh block and the ```python
block, in order, in one temporary folder holding a copy of examples/, questionnaires/ and policies/.

- `suitability` is this tree's command line (a shim on PATH running `python -m suitability`).
- Skipped, and only these: `python3 -m venv …` and `pip install …` (the environment is the test's
  own) and the `pytest` that runs this very suite.
- The interactive `assess` reads the example client's facts and answers from stdin, as typed.
- PostgreSQL blocks run against the local test server (SUITABILITY_TEST_POSTGRES_URL) in a fresh
  schema and a fresh app role, by rewriting the README's URLs; with no server they are skipped with
  the reason. The service block's port 8080 becomes a free port. Blocks that call `curl` or `jq` are
  skipped with the reason where those are not installed (`.ci/run` installs them).
- The Python example also passes `mypy --strict`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, ROOT, load

README = ROOT / "README.md"
PG_ENV = "SUITABILITY_TEST_POSTGRES_URL"
PG_BASE = os.environ.get(PG_ENV, "postgresql://127.0.0.1:5432/test")
SKIPPED_LINE = re.compile(r"^\s*(python3 -m venv |pip install [^&]*$|pytest\s*$)")


def blocks() -> list[tuple[str, str]]:
    """The README's ```sh and ```python blocks, in order, as (language, text)."""
    return re.findall(r"^```(sh|python)\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def runnable(text: str) -> str:
    """A block as the test runs it: the install steps left out, every other line as written."""
    text = re.sub(r"pip install [^&\n]*&& ", "", text)
    return "\n".join("" if SKIPPED_LINE.match(line) else line for line in text.splitlines())


def typed_session() -> str:
    """What a person types at the interactive `assess`: the example client's facts, answers, then y."""
    from suitability import Registry

    client = load(EXAMPLES / "client.json")
    answers: dict[str, Any] = load(EXAMPLES / "answers.json")["answers"]
    lines = [client["client_id"], "1" if client.get("investor_type", "ordinary") == "ordinary" else "2"]
    lines += [client["birth_date"], "y" if client.get("full_civil_capacity", True) else "n"]
    q = Registry.default(environ={}).questionnaire("cn-securities-individual")
    for question in q.model.questions:
        if question.id in answers:
            ids = [o.id for o in question.options]
            value = answers[question.id]
            lines.append(",".join(str(ids.index(p) + 1) for p in ([value] if isinstance(value, str) else value)))
    return "\n".join([*lines, "y"]) + "\n"


def _pg_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    try:
        psycopg.connect(PG_BASE, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_ENV}={PG_BASE} ({str(exc).strip().splitlines()[0]})"
    return None


class PostgresRewrite:
    """The README's PostgreSQL URLs, pointed at fresh schemas and a fresh app role of the test server."""

    def __init__(self) -> None:
        import psycopg

        tag = uuid.uuid4().hex[:10]
        self.schema, self.moved, self.role = f"readme_{tag}", f"readme_{tag}_moved", f"readme_app_{tag}"
        self.admin = psycopg.connect(PG_BASE, autocommit=True)
        for schema in (self.schema, self.moved):
            self.admin.execute(f"CREATE SCHEMA {schema}")
        self.admin.execute(f"CREATE ROLE {self.role} LOGIN")

    def url(self, schema: str, user: str | None = None) -> str:
        base = PG_BASE if user is None else PG_BASE.replace("postgresql://", f"postgresql://{user}@", 1)
        return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"

    def __call__(self, text: str) -> str:
        text = text.replace(
            "postgresql://owner@db.internal:5432/suitability?options=-csearch_path%3Dmoved", self.url(self.moved)
        )
        text = text.replace("postgresql://owner@db.internal:5432/suitability", self.url(self.schema))
        text = text.replace("postgresql://app@db.internal:5432/suitability", self.url(self.schema, self.role))
        return text.replace("--app-role app", f"--app-role {self.role}")

    def close(self) -> None:
        self.admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'")
        for schema in (self.schema, self.moved):
            self.admin.execute(f"DROP SCHEMA {schema} CASCADE")
        self.admin.execute(f"DROP OWNED BY {self.role}")
        self.admin.execute(f"DROP ROLE {self.role}")
        self.admin.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    for name in ("examples", "questionnaires", "policies"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shim = tmp_path / "bin" / "suitability"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m suitability "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    yield tmp_path
    pid_file = tmp_path / "serve.pid"
    if pid_file.exists():  # a server a failed block left running
        with_pid = pid_file.read_text().strip()
        if with_pid.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(with_pid), signal.SIGTERM)


def test_the_readme_runs_as_written(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITABILITY_")}
    env |= {"PATH": f"{folder / 'bin'}{os.pathsep}{env.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    env |= {"SUITABILITY_DOCUMENTS": "", "MYPYPATH": str(ROOT)}
    found = blocks()
    assert sum(lang == "python" for lang, _ in found) == 1 and len(found) >= 10
    pg_problem = _pg_problem()
    rewrite: PostgresRewrite | None = None
    port = str(free_port())
    skipped: list[str] = []
    try:
        for number, (lang, text) in enumerate(found, start=1):
            if lang == "python":
                example = folder / "readme_example.py"
                example.write_text(text, encoding="utf-8")
                done = subprocess.run(
                    [sys.executable, str(example)], cwd=folder, env=env, capture_output=True, text=True, check=False
                )
                assert done.returncode == 0, f"the README's Python example failed:\n{done.stdout}\n{done.stderr}"
                assert "cnf_" in done.stdout
                typed = subprocess.run(
                    [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", str(folder / ".mypy"), str(example)],
                    cwd=folder, env=env, capture_output=True, text=True, check=False,
                )  # fmt: skip
                assert typed.returncode == 0, f"the README's Python example fails mypy --strict:\n{typed.stdout}"
                continue
            script = runnable(text).replace("8080", port)
            if "postgresql://" in script:
                if pg_problem is not None:
                    skipped.append(f"block {number}: {pg_problem}")
                    continue
                rewrite = rewrite or PostgresRewrite()
                script = rewrite(script)
            missing = [tool for tool in ("curl", "jq") if re.search(rf"\b{tool} ", script) and not shutil.which(tool)]
            if missing:  # the examples use them as a reader would; .ci/run installs both
                skipped.append(f"block {number}: {' and '.join(missing)} not installed")
                continue
            stdin = typed_session() if "# asks question by question" in script else ""
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", script],
                cwd=folder, env=env, input=stdin, capture_output=True, text=True, check=False, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, (
                f"README block {number} failed ({done.returncode}):\n{script}\n--- stderr:\n{done.stderr[-4000:]}"
            )
    finally:
        if rewrite is not None:
            rewrite.close()
    if skipped:
        pytest.skip("; ".join(skipped))


def test_the_install_lines_are_the_only_ones_left_out() -> None:
    """Only the venv, pip install and pytest lines are skipped; every other line of every block runs."""
    left_out = [
        line for _, text in blocks() for line in text.splitlines() if SKIPPED_LINE.match(line) or "pip install" in line
    ]
    assert all(re.match(r"(python3 -m venv|pip install)", line) for line in left_out), left_out
    opening = blocks()[1][1]
    assert opening.startswith("pip install . && suitability assess")  # the first command, unchanged
    assert "python3 -m venv .venv && . .venv/bin/activate" in blocks()[0][1]
