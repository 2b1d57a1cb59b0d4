"""The HTTP service, served for real: `suitability serve` as a subprocess on 127.0.0.1, driven by httpx
(and by Node.js's built-in fetch), with the log read back and verified afterwards. Nothing is mocked."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx", reason="the service tests need the test extra: pip install -e '.[test]'")
pytest.importorskip("fastapi", reason="the service needs its extra: pip install -e '.[test]'")

from suitability.log import SQLiteStore  # noqa: E402
from suitability.log.checkpoint import Verifier  # noqa: E402
from suitability.log.verify import verify, verify_proof  # noqa: E402
from suitability.service.keys import add_key  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ANSWERS: dict[str, Any] = json.loads((EXAMPLES / "answers.json").read_text())["answers"]
CLIENT: dict[str, Any] = json.loads((EXAMPLES / "client.json").read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`suitability serve` in a subprocess (started again on the same port after a kill)."""

    def __init__(self, folder: Path, log: str, *extra: str) -> None:
        self.folder, self.log, self.extra = folder, log, extra
        self.keys = folder / "keys.json"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Server:
        self.starts += 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("SUITABILITY_PSEUDONYM_KEY", None)
        self.stderr = self.folder / f"serve-{self.port}-{self.starts}.err"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "suitability",
                    "serve",
                    "--log",
                    self.log,
                    "--keys",
                    str(self.keys),
                    "--port",
                    str(self.port),
                    "--catalog",
                    str(EXAMPLES / "catalog.csv"),
                    *self.extra,
                ],
                cwd=self.folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        for _ in range(300):
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.stderr.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not come up: {self.stderr.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def server_log(self) -> str:
        return self.stderr.read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("service")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "suitability",
            "audit",
            "keygen",
            "--private",
            "log.key",
            "--public",
            "log.pub",
            "--name",
            "broker-x",
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    server = Server(
        folder,
        str(folder / "log.sqlite3"),
        "--checkpoint-key",
        "log.key",
        "--origin",
        "broker-x/suitability",
        "--checkpoint-every",
        "0.3",
    )
    _, sales = add_key(server.keys, "staff-07", "sales")
    _, auditor = add_key(server.keys, "audit-01", "auditor")
    server.start()
    try:
        yield {
            "server": server,
            "url": server.url,
            "folder": folder,
            "sales": {"Authorization": f"Bearer {sales}"},
            "auditor": {"Authorization": f"Bearer {auditor}"},
            "verifier": Verifier.parse((folder / "log.pub").read_text()),
        }
    finally:
        server.stop()
        log = server.server_log()
        assert "Traceback" not in log or "internal error" in log, log


def _size(site: dict[str, Any]) -> int:
    with SQLiteStore(site["folder"] / "log.sqlite3", create=False) as store:
        return store.size()


def _assessment(site: dict[str, Any], client_id: str = "CN-000123", **headers: str) -> dict[str, Any]:
    body = {
        "questionnaire": "cn-securities-individual",
        "answers": ANSWERS,
        "client": {**CLIENT, "client_id": client_id},
    }
    r = httpx.post(site["url"] + "/v1/assessments", json=body, headers={**site["sales"], **headers})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/records/{r.json()['id']}"
    result: dict[str, Any] = r.json()
    return result


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = r.json()
    assert doc["status"] == status and doc["code"] == code, doc
    assert doc["type"].startswith("urn:suitability:problem:") and set(doc["titles"]) == {"zh-CN", "en"}
    assert "Traceback" not in r.text and 'File "' not in r.text
    return doc


def _wait_for_proof(site: dict[str, Any], ident: str) -> dict[str, Any]:
    for _ in range(200):
        r = httpx.get(f"{site['url']}/v1/records/{ident}", headers=site["auditor"])
        assert r.status_code == 200, r.text
        if r.json()["proof"] is not None:
            found: dict[str, Any] = r.json()
            return found
        time.sleep(0.1)
    raise AssertionError("no checkpoint came to cover the record")


# --- the contract ---------------------------------------------------------------------------


def test_openapi_is_a_valid_openapi_3_1_document(site: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    doc = httpx.get(site["url"] + "/openapi.json").json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert {
        "/v1/questionnaires",
        "/v1/questionnaires/{ref}",
        "/v1/assessments",
        "/v1/decisions",
        "/v1/confirmations",
        "/v1/recommendations",
        "/v1/records/{ident}",
        "/v1/checkpoint",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= paths
    assessment = doc["paths"]["/v1/assessments"]["post"]
    assert "201" in assessment["responses"] and "application/problem+json" in assessment["responses"]["422"]["content"]
    # the actor is not part of any request: it comes from the API key
    for name in ("AssessmentRequest", "DecisionRequest", "ConfirmationRequest", "RecommendationRequest"):
        assert "actor" not in doc["components"]["schemas"][name]["properties"]


def test_health_readiness_and_metrics(site: dict[str, Any]) -> None:
    assert httpx.get(site["url"] + "/healthz").json() == {"status": "ok"}
    assert httpx.get(site["url"] + "/readyz").json() == {"status": "ready"}
    _assessment(site, "CN-METRICS")
    text = httpx.get(site["url"] + "/metrics").text
    assert 'suitability_http_requests_total{method="POST",route="/v1/assessments",status="201"}' in text
    assert "suitability_http_request_duration_seconds_bucket" in text
    assert "suitability_log_batch_records_bucket" in text
    appended = next(line for line in text.splitlines() if line.startswith("suitability_log_appended_records_total"))
    assert int(appended.split()[-1]) >= 1


def test_the_form_comes_in_the_language_asked_without_scores(site: dict[str, Any]) -> None:
    listed = httpx.get(site["url"] + "/v1/questionnaires", headers={**site["auditor"], "Accept-Language": "en"})
    assert listed.status_code == 200
    assert any(q["id"] == "cn-securities-individual" for q in listed.json())
    url = site["url"] + "/v1/questionnaires/cn-securities-individual@2026.1"
    en = httpx.get(url, headers={**site["sales"], "Accept-Language": "en-GB,en;q=0.9"}).json()
    zh = httpx.get(url, headers={**site["sales"], "Accept-Language": "zh-CN"}).json()
    assert en["language"] == "en" and zh["language"] == "zh-CN"
    assert en["title"] != zh["title"] and en["questions"][0]["text"] != zh["questions"][0]["text"]
    assert [q["id"] for q in en["questions"]] == [q["id"] for q in zh["questions"]]
    assert any(q["enable_when"] for q in en["questions"])  # conditions travel with the form
    assert all("score" not in o for q in en["questions"] for o in q["options"])
    _problem(
        httpx.get(site["url"] + "/v1/questionnaires/no-such-thing", headers=site["sales"]), 404, "UNKNOWN_DOCUMENT"
    )


# --- a whole sale ---------------------------------------------------------------------------


def test_a_whole_sale_over_http_ends_in_a_record_with_a_verified_proof(site: dict[str, Any]) -> None:
    a = _assessment(site, "CN-SALE-PY")
    assert a["profile"] in {"C1", "C2", "C3", "C4", "C5"}
    decision = {"assessment_id": a["id"], "client": {**CLIENT, "client_id": "CN-SALE-PY"}}
    r = httpx.post(
        site["url"] + "/v1/decisions",
        json={**decision, "product_id": "FUND-EQ-01", "initiated_by": "client"},
        headers=site["sales"],
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["outcome"] == "requires_confirmation" and d["warnings"]
    r = httpx.post(
        site["url"] + "/v1/confirmations",
        json={
            "decision_id": d["id"],
            "acknowledgement": "我已知晓风险，坚持购买",
            "channel": "branch",
            "shown_warnings": d["warnings"],
        },
        headers=site["sales"],
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["actor"] == "staff-07"  # the key's actor, not anything the body said
    r = httpx.post(site["url"] + "/v1/recommendations", json=decision, headers=site["sales"])
    assert r.status_code == 201, r.text
    assert all(item["decision"]["outcome"] == "suitable" for item in r.json()["recommendations"])

    found = _wait_for_proof(site, c["id"])
    seq, record, checkpoint = verify_proof(found["proof"], site["verifier"])
    assert seq == found["seq"] and base64.b64decode(found["record"]) == record
    assert json.loads(record)["result"]["id"] == c["id"] and json.loads(record)["actor"] == "staff-07"
    note = httpx.get(site["url"] + "/v1/checkpoint", headers=site["auditor"])
    assert note.status_code == 200 and note.text.startswith("broker-x/suitability\n")
    assert checkpoint.size <= int(note.text.splitlines()[1])
    with SQLiteStore(site["folder"] / "log.sqlite3", create=False) as store:
        sizes = [kept.size for kept in store.checkpoints()]
    assert sizes and sizes == sorted(set(sizes)), sizes  # each growth signed once, never a size twice


def test_a_node_app_makes_a_whole_sale_with_builtin_fetch(site: dict[str, Any]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (.ci/run installs it from the system packages)")
    client = site["folder"] / "node-client.json"
    client.write_text(json.dumps({**CLIENT, "client_id": "CN-NODE-01"}))
    done = subprocess.run(
        [
            node,
            str(ROOT / "tests" / "node" / "sale.mjs"),
            site["url"],
            site["sales"]["Authorization"][7:],
            str(EXAMPLES / "answers.json"),
            str(client),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["decision"]["assessment_id"] == out["assessment"]["id"]
    assert out["confirmation"]["decision_id"] == out["decision"]["id"]
    _seq, record, _ = verify_proof(out["record"]["proof"], site["verifier"])
    assert json.loads(record)["result"] == out["confirmation"]
    assert out["checkpoint"].startswith("broker-x/suitability\n")


# --- who is calling -------------------------------------------------------------------------


def test_keys_no_key_a_bad_key_and_the_wrong_role_are_refused_and_nothing_is_recorded(site: dict[str, Any]) -> None:
    body = {"questionnaire": "cn-securities-individual", "answers": ANSWERS, "client": CLIENT}
    before = _size(site)
    url = site["url"] + "/v1/assessments"
    r = httpx.post(url, json=body)
    _problem(r, 401, "API_KEY_MISSING")
    assert r.headers["www-authenticate"].startswith("Bearer")
    forged = site["sales"]["Authorization"][:-4] + "AAAA"
    _problem(httpx.post(url, json=body, headers={"Authorization": forged}), 401, "API_KEY_INVALID")
    _problem(httpx.post(url, json=body, headers={"Authorization": "Basic c3RhZmY6cHc="}), 401, "API_KEY_INVALID")
    _problem(httpx.post(url, json=body, headers=site["auditor"]), 403, "ROLE_FORBIDDEN")
    _problem(httpx.get(site["url"] + "/v1/questionnaires"), 401, "API_KEY_MISSING")
    assert _size(site) == before


def test_a_caller_without_a_valid_key_is_refused_before_its_body_is_read(site: dict[str, Any]) -> None:
    """The key is checked first: an unauthenticated caller learns nothing about its body (401, not 400)."""
    before = _size(site)
    malformed = b'{"answers": {}, "answers": {}}'
    for headers in ({}, {"Authorization": "Bearer suit_nope_nope"}):
        r = httpx.post(
            site["url"] + "/v1/assessments", content=malformed, headers={**headers, "Content-Type": "application/json"}
        )
        assert r.status_code == 401, r.text
    _problem(
        httpx.post(site["url"] + "/v1/decisions", content=malformed, headers=site["auditor"]), 403, "ROLE_FORBIDDEN"
    )
    assert _size(site) == before


def test_a_body_cannot_set_the_actor(site: dict[str, Any]) -> None:
    before = _size(site)
    body = {"questionnaire": "cn-securities-individual", "answers": ANSWERS, "client": CLIENT, "actor": "staff-99"}
    doc = _problem(
        httpx.post(site["url"] + "/v1/assessments", json=body, headers=site["sales"]), 422, "REQUEST_INVALID"
    )
    assert doc["problems"] == [
        {
            "message": "expected no actor in the body: the actor recorded is the caller's, from its API key",
            "pointer": "/actor",
            "code": "ACTOR_FROM_KEY",
        }
    ]
    assert _size(site) == before


def test_keys_cli_prints_a_key_once_stores_its_hash_and_revocation_takes_effect(site: dict[str, Any]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    keys = str(site["server"].keys)
    made = subprocess.run(
        [sys.executable, "-m", "suitability", "keys", "add", "--file", keys, "--actor", "staff-08", "--role", "sales"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    key = made.stdout.strip()
    assert key.startswith("suit_") and key not in Path(keys).read_text()
    key_id = key.split("_")[1]
    listed = subprocess.run(
        [sys.executable, "-m", "suitability", "keys", "list", "--file", keys, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert {"id": key_id, "actor": "staff-08", "role": "sales"}.items() <= next(
        e for e in json.loads(listed.stdout) if e["id"] == key_id
    ).items()
    a = _assessment(site, "CN-KEY-08", Authorization=f"Bearer {key}")
    with SQLiteStore(site["folder"] / "log.sqlite3", create=False) as store:
        found = store.find(a["id"])
        assert found is not None and json.loads(found.data)["actor"] == "staff-08"
    subprocess.run(
        [sys.executable, "-m", "suitability", "keys", "revoke", "--file", keys, key_id],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    for _ in range(100):  # the service reads the keys file again within a second of a change
        r = httpx.get(site["url"] + "/v1/questionnaires", headers={"Authorization": f"Bearer {key}"})
        if r.status_code == 401:
            break
        time.sleep(0.1)
    _problem(r, 401, "API_KEY_INVALID")
    bad = subprocess.run(
        [sys.executable, "-m", "suitability", "keys", "add", "--file", keys, "--actor", " x", "--role", "sales"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode in (2, 3) and "Traceback" not in bad.stderr


# --- errors ---------------------------------------------------------------------------------


def test_errors_are_problem_documents_and_nothing_is_recorded_for_them(site: dict[str, Any]) -> None:
    url, sales = site["url"], site["sales"]
    before = _size(site)
    # malformed and ambiguous JSON: the library's strict reader, with line and column
    doc = _problem(
        httpx.post(
            url + "/v1/assessments",
            content=b'{"answers": {}, "answers": {}}',
            headers={**sales, "Content-Type": "application/json"},
        ),
        400,
        "INPUT_ERROR",
    )
    assert doc["error"] == "InputError" and doc["problems"][0]["line"] == 1
    _problem(
        httpx.post(
            url + "/v1/assessments", content=b'{"x": NaN}', headers={**sales, "Content-Type": "application/json"}
        ),
        400,
        "INPUT_ERROR",
    )
    # answers that do not fit: the library's ResponseError, with the JSON Pointer of the answer
    wrong = {**ANSWERS, "age": "a_thousand"}
    doc = _problem(
        httpx.post(
            url + "/v1/assessments", json={"questionnaire": "cn-securities-individual", "answers": wrong}, headers=sales
        ),
        422,
        "RESPONSE_INVALID",
    )
    assert any(p["pointer"] == "/answers/age" for p in doc["problems"])
    assert not any("log.sqlite3" in json.dumps(doc) for _ in [0])
    # a birth date the model refuses: the pointer into the request
    doc = _problem(
        httpx.post(
            url + "/v1/assessments",
            json={
                "questionnaire": "cn-securities-individual",
                "answers": ANSWERS,
                "client": {**CLIENT, "birth_date": 0},
            },
            headers=sales,
        ),
        422,
        "REQUEST_INVALID",
    )
    assert doc["problems"][0]["pointer"] == "/client/birth_date"
    # unknown things are 404
    _problem(
        httpx.post(url + "/v1/assessments", json={"questionnaire": "nope", "answers": ANSWERS}, headers=sales),
        404,
        "UNKNOWN_DOCUMENT",
    )
    doc = _problem(
        httpx.post(
            url + "/v1/decisions",
            json={"assessment_id": "asm_0000", "client": CLIENT, "product_id": "FUND-EQ-01", "initiated_by": "client"},
            headers=sales,
        ),
        404,
        "UNKNOWN_ASSESSMENT",
    )
    assert doc["problems"][0]["pointer"] == "/assessment_id"
    a = _assessment(site, "CN-ERR")
    before = _size(site)
    decision = {"assessment_id": a["id"], "client": {**CLIENT, "client_id": "CN-ERR"}, "initiated_by": "client"}
    _problem(
        httpx.post(url + "/v1/decisions", json={**decision, "product_id": "NO-SUCH"}, headers=sales),
        404,
        "UNKNOWN_PRODUCT",
    )
    _problem(
        httpx.post(
            url + "/v1/confirmations",
            json={"decision_id": "dec_0", "acknowledgement": "ok", "channel": "app", "shown_warnings": []},
            headers=sales,
        ),
        404,
        "UNKNOWN_DECISION",
    )
    _problem(httpx.get(url + "/v1/records/asm_nope", headers=sales), 404, "UNKNOWN_RECORD")
    _problem(httpx.get(url + "/v1/nothing-here", headers=sales), 404, "NOT_FOUND")
    _problem(httpx.delete(url + "/v1/assessments", headers=sales), 405, "METHOD_NOT_ALLOWED")
    # facts that differ from those recorded with the assessment: the library's DecisionError (a conflict)
    older = {**CLIENT, "client_id": "CN-ERR", "birth_date": "1990-01-01"}
    doc = _problem(
        httpx.post(
            url + "/v1/decisions", json={**decision, "client": older, "product_id": "FUND-EQ-01"}, headers=sales
        ),
        409,
        "DECISION_ERROR",
    )
    assert any(p["pointer"] == "/client/birth_date" for p in doc["problems"])
    # confirming a suitable decision is refused
    r = httpx.post(url + "/v1/decisions", json={**decision, "product_id": "MMF-01"}, headers=sales)
    assert r.status_code == 201 and r.json()["outcome"] == "suitable"
    before = _size(site)
    _problem(
        httpx.post(
            url + "/v1/confirmations",
            json={"decision_id": r.json()["id"], "acknowledgement": "ok", "channel": "app", "shown_warnings": []},
            headers=sales,
        ),
        409,
        "DECISION_ERROR",
    )
    assert _size(site) == before
    # zh-CN titles when asked for
    zh = httpx.get(url + "/v1/records/asm_nope", headers={**sales, "Accept-Language": "zh-CN"}).json()
    assert zh["title"] == zh["titles"]["zh-CN"]


def test_bodies_over_one_mebibyte_get_413_even_without_a_content_length(site: dict[str, Any]) -> None:
    before = _size(site)
    big = b'{"questionnaire": "cn-securities-individual", "answers": {"x": "' + b"a" * (1 << 20) + b'"}}'
    headers = {**site["sales"], "Content-Type": "application/json"}
    _problem(httpx.post(site["url"] + "/v1/assessments", content=big, headers=headers), 413, "BODY_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # streamed: Transfer-Encoding chunked, no Content-Length to trust
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    r = httpx.post(site["url"] + "/v1/assessments", content=chunks(), headers=headers)
    _problem(r, 413, "BODY_TOO_LARGE")
    # a body that claims to be small but is not is cut at 1 MiB all the same
    assert _size(site) == before


# --- retries --------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_writes_nothing_new(site: dict[str, Any]) -> None:
    url, sales = site["url"], site["sales"]
    body = {
        "questionnaire": "cn-securities-individual",
        "answers": ANSWERS,
        "client": {**CLIENT, "client_id": "CN-IDEM"},
    }
    first = httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "sale-1"})
    assert first.status_code == 201
    after_first = _size(site)
    again = httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "sale-1"})
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert _size(site) == after_first
    other = {**body, "client": {**CLIENT, "client_id": "CN-IDEM-2"}}
    _problem(
        httpx.post(url + "/v1/assessments", json=other, headers={**sales, "Idempotency-Key": "sale-1"}),
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )
    # another caller's key of the same name is another key
    staff = add_key(site["server"].keys, "staff-09", "sales")[1]
    time.sleep(1.1)  # the keys file is read again at most once a second
    third = httpx.post(
        url + "/v1/assessments", json=body, headers={"Authorization": f"Bearer {staff}", "Idempotency-Key": "sale-1"}
    )
    assert third.status_code == 201 and third.json()["id"] != first.json()["id"]
    _problem(
        httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "é".encode()}),
        400,
        "IDEMPOTENCY_KEY_INVALID",
    )
    _problem(
        httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "k" * 256}),
        400,
        "IDEMPOTENCY_KEY_INVALID",
    )


def _claims(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "log.sqlite3", timeout=30, isolation_level=None)


def test_a_claim_left_by_a_dead_server_after_its_record_is_answered_without_a_second_record(
    site: dict[str, Any],
) -> None:
    """The window between the record's commit and the stored response: the server died there.

    The table is put in the state such a death leaves (the record written, the claim unfinished,
    owned by a process that is gone); the retry must find the record, not write another."""
    url, sales = site["url"], site["sales"]
    body = {
        "questionnaire": "cn-securities-individual",
        "answers": ANSWERS,
        "client": {**CLIENT, "client_id": "CN-WINDOW"},
    }
    first = httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "window-1"})
    assert first.status_code == 201
    db = _claims(site["folder"])
    dead = f"{socket.gethostname()}:{2**22 + 12345}:gone"  # a pid above pid_max: no such process
    db.execute("UPDATE service_idempotency SET status = NULL, body = NULL, owner = ? WHERE key = 'window-1'", (dead,))
    before = _size(site)
    again = httpx.post(url + "/v1/assessments", json=body, headers={**sales, "Idempotency-Key": "window-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert _size(site) == before
    # and a claim that died before its record: the retry records it once, at the pinned instant
    pinned = "2026-11-28T09:30:00+00:00"
    raw = json.dumps({**body, "client": {**CLIENT, "client_id": "CN-WINDOW-2"}}).encode()
    import hashlib

    fingerprint = hashlib.sha256(b"POST\n/v1/assessments\n" + raw).hexdigest()
    db.execute(
        "INSERT INTO service_idempotency (scope, key, fingerprint, as_of, owner, claimed_at) VALUES (?, ?, ?, ?, ?, ?)",
        ("staff-07", "window-2", fingerprint, pinned, dead, time.time()),
    )
    db.close()
    r = httpx.post(
        url + "/v1/assessments",
        content=raw,
        headers={**sales, "Idempotency-Key": "window-2", "Content-Type": "application/json"},
    )
    assert r.status_code == 201 and r.json()["assessed_at"] == "2026-11-28T09:30:00Z"
    assert _size(site) == before + 1


def test_idempotency_keys_survive_a_restart(tmp_path: Path) -> None:
    server = Server(tmp_path, str(tmp_path / "log.sqlite3"))
    key = add_key(server.keys, "staff-07", "sales")[1]
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "restart-1"}
    body = {"questionnaire": "cn-securities-individual", "answers": ANSWERS, "client": CLIENT}
    server.start()
    try:
        first = httpx.post(server.url + "/v1/assessments", json=body, headers=headers)
        assert first.status_code == 201
        server.kill()
        server.start()
        again = httpx.post(server.url + "/v1/assessments", json=body, headers=headers)
        assert again.status_code == 201 and again.content == first.content
    finally:
        server.stop()
    with SQLiteStore(tmp_path / "log.sqlite3", create=False) as store:
        assert [json.loads(d)["type"] for _, d, _ in store.scan()] == ["artifact", "assessment"]


# --- load, with a SIGKILL in the middle -----------------------------------------------------


def test_a_server_killed_under_load_loses_no_acknowledged_record(tmp_path: Path) -> None:
    """2,000 assessments from 32 concurrent clients; the server is SIGKILLed midway and restarted.

    Each request carries an Idempotency-Key; a client whose request got no response (in flight at
    the kill) sends it again, byte for byte, once the server is back. Afterwards every id answered
    with 201 is in the log, the log verifies, and every assessment in the log was answered."""
    total, clients, kill_after = 2_000, 32, 700
    log = tmp_path / "log.sqlite3"
    server = Server(tmp_path, str(log))
    key = add_key(server.keys, "staff-07", "sales")[1]
    server.start()
    up = threading.Event()
    up.set()
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "acked": {}, "no_response": 0, "replayed": 0}

    def worker() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= total:
                    return
                raw = json.dumps(
                    {
                        "questionnaire": "cn-securities-individual",
                        "answers": ANSWERS,
                        "client": {**CLIENT, "client_id": f"LOAD-{i}"},
                    }
                ).encode()
                headers = {
                    "Authorization": f"Bearer {key}",
                    "Idempotency-Key": f"load-{i}",
                    "Content-Type": "application/json",
                }
                for _ in range(100):
                    up.wait(60)
                    try:
                        r = http.post("/v1/assessments", content=raw, headers=headers)
                    except httpx.TransportError:
                        with lock:
                            state["no_response"] += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code == 409 and r.json()["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT":
                        time.sleep(0.05)
                        continue
                    assert r.status_code == 201, r.text
                    with lock:
                        state["acked"][f"LOAD-{i}"] = r.json()["id"]
                        state["replayed"] += r.headers.get("idempotency-replayed") == "true"
                    break

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        while len(state["acked"]) < kill_after and time.monotonic() - started < 60:
            time.sleep(0.01)
        up.clear()
        server.kill()  # requests in flight now get no response
        with lock:
            acked_at_kill = set(state["acked"])
        with SQLiteStore(log, create=False) as store:
            logged_at_kill = {
                json.loads(d)["client"]["client_id"]
                for _, d, _ in store.scan()
                if json.loads(d)["type"] == "assessment"
            }
        server.start()
        up.set()
        for t in threads:
            t.join(120)
    finally:
        up.set()
        server.stop()
    with SQLiteStore(log, create=False) as store:
        report = verify(store)
        assert report.ok, report
        logged: dict[str, str] = {}
        for _, data, _ in store.scan():
            record = json.loads(data)
            if record["type"] == "assessment":
                assert record["client"]["client_id"] not in logged, "a retried request was recorded twice"
                logged[record["client"]["client_id"]] = record["result"]["id"]
    acked = state["acked"]
    print(
        f"\n{total} requests, {clients} clients; at the kill: {len(acked_at_kill)} answered, {len(logged_at_kill)} in "
        f"the log, {len(logged_at_kill - acked_at_kill)} of them recorded without a response yet; "
        f"{state['no_response']} attempts without a response (in flight at the kill or while it was down), "
        f"{state['replayed']} answered by replay after the restart; {len(acked)} answered in all, "
        f"{len(logged)} assessments in the log"
    )
    assert acked_at_kill <= logged_at_kill  # every id answered before the kill was in the log at the kill
    assert len(logged_at_kill - acked_at_kill) <= clients  # recorded, not answered: only requests in flight
    assert len(acked) == total
    assert acked == logged  # every answered id is in the log, and every record was answered


# --- several worker processes, one SQLite log -----------------------------------------------


def _descendants(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = {int(c) for c in children.read_text().split()} if children.exists() else set()
    return found | {g for c in found for g in _descendants(c)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes")
def test_serve_workers_share_one_port_and_one_sqlite_log(tmp_path: Path) -> None:
    """`serve --workers 2`: two processes answer on one port; every answered id is in the log once,
    the sequence has no gap, the log verifies; SIGTERM to the supervisor stops both workers."""
    log = tmp_path / "log.sqlite3"
    server = Server(tmp_path, str(log), "--workers", "2")
    key = add_key(server.keys, "staff-07", "sales")[1]
    server.start()
    assert server.proc is not None
    workers = _descendants(server.proc.pid)
    acked: dict[str, str] = {}
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for i in range(25):
                cid = f"W-{n}-{i}"
                body = {
                    "questionnaire": "cn-securities-individual",
                    "answers": ANSWERS,
                    "client": {**CLIENT, "client_id": cid},
                }
                r = http.post("/v1/assessments", json=body)
                assert r.status_code == 201, r.text
                with lock:
                    acked[cid] = r.json()["id"]

    try:
        assert len(workers) == 2, workers
        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.server_log()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived the supervisor's SIGTERM"
    assert len(acked) == 12 * 25
    with SQLiteStore(log, create=False) as store:
        report = verify(store)
        assert report.ok, report
        seqs = [seq for seq, _, _ in store.scan()]
        assert seqs == list(range(len(seqs)))
        logged = {
            json.loads(d)["client"]["client_id"]: json.loads(d)["result"]["id"]
            for _, d, _ in store.scan()
            if json.loads(d)["type"] == "assessment"
        }
    assert logged == acked


# --- several servers, one PostgreSQL log ----------------------------------------------------


def _postgres_url() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    base = os.environ.get("SUITABILITY_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    try:
        psycopg.connect(base, connect_timeout=3).close()
    except psycopg.Error:
        return None
    return base


def test_two_servers_share_one_postgresql_log_gap_free(tmp_path: Path) -> None:
    base = _postgres_url()
    if base is None:
        pytest.skip("no PostgreSQL server at SUITABILITY_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test)")
    import uuid
    from urllib.parse import quote

    import psycopg

    from suitability.log import open_store, upgrade

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg.connect(base, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    servers: list[Server] = []
    try:
        upgrade(url)
        for n in range(2):
            folder = tmp_path / f"s{n}"
            folder.mkdir()
            servers.append(Server(folder, url))
        key = add_key(servers[0].keys, "staff-07", "sales")[1]
        shutil.copy(servers[0].keys, servers[1].keys)
        for server in servers:
            server.start()
        acked: list[str] = []
        lock = threading.Lock()

        def worker(w: int) -> None:
            server = servers[w % 2]
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
                for i in range(15):
                    body = {
                        "questionnaire": "cn-securities-individual",
                        "answers": ANSWERS,
                        "client": {**CLIENT, "client_id": f"PG-{w}-{i}"},
                    }
                    r = http.post("/v1/assessments", json=body, headers={"Idempotency-Key": f"pg-{w}-{i}"})
                    assert r.status_code == 201, r.text
                    with lock:
                        acked.append(r.json()["id"])

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert httpx.get(servers[1].url + "/readyz").status_code == 200
        for server in servers:
            server.stop()
        store = open_store(url)
        try:
            report = verify(store)
            assert report.ok, report
            assert [seq for seq, _, _ in store.scan()] == list(range(store.size()))
            assert all(store.find(ident) is not None for ident in acked) and len(acked) == 120
        finally:
            store.close()
    finally:
        for server in servers:
            server.stop()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
