"""The layers are a contract (pyproject.toml, [tool.importlinter]): lint-imports keeps them, and
breaks on an upward import the day it is written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

LINT = shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[test]')")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
         "--no-cache"],
        cwd=root, capture_output=True, text=True, check=False, env={"PYTHONPATH": str(root), "PATH": ""},
    )  # fmt: skip


def test_the_package_keeps_its_layers() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("log/store.py", "from ..matching import decide"),  # the log wing imports a rule
        ("matching.py", "from .log.store import Draft"),  # a rule does I/O
        ("records.py", "from .engine import Engine"),  # records reach up to the engine
        ("log/verify.py", "from ..replay import replay"),  # verify reaches up to replay
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str) -> None:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "suitability", copy / "suitability", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "suitability" / module
    text = target.read_text(encoding="utf-8")
    at = text.index("\nfrom ")  # after the module docstring and __future__ import
    target.write_text(text[:at] + "\n" + upward + "  # noqa" + text[at:], encoding="utf-8")
    done = lint(copy)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
