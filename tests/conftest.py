"""Shared fixtures: the bundled documents, a valid response and a client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from suitability import Client, Policy, Questionnaire, Registry

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"
QUESTIONNAIRE_FILE = ROOT / "questionnaires" / "cn-securities-individual" / "2026.1.json"
CSRC_FILE = ROOT / "policies" / "cn-csrc" / "2026.1.json"
AS_OF = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.default(environ={})


@pytest.fixture(scope="session")
def questionnaire(registry: Registry) -> Questionnaire:
    return registry.questionnaire("cn-securities-individual")


@pytest.fixture(scope="session")
def csrc(registry: Registry) -> Policy:
    return registry.policy("cn-csrc")


@pytest.fixture(scope="session")
def bank(registry: Registry) -> Policy:
    return registry.policy("cn-bank-wm")


@pytest.fixture
def answers() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / "answers.json").read_text())["answers"]
    return loaded


@pytest.fixture
def client() -> Client:
    return Client(client_id="CN-000123", investor_type="ordinary", birth_date="1980-05-01")


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
