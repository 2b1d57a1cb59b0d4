"""The HTTP service: the Engine's calls over JSON, with an OpenAPI 3.1 contract (FastAPI).

It holds no rule: every endpoint parses, calls the Engine (or the log's proofs) and renders, as
the CLI does. A result is returned (``201``) only after the Engine recorded it durably. Errors are
RFC 9457 problem documents (:mod:`.problems`); callers are authenticated by API keys
(:mod:`.keys`); retries are safe with an ``Idempotency-Key`` (:mod:`.idempotency`).
"""

import base64
import hashlib
import inspect
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from .. import __version__
from ..codec import parse_json
from ..engine import Engine
from ..errors import DecisionError, Problem, SuitabilityError, pointer
from ..log.checkpoint import Signer
from ..log.merkle import inclusion_proof, leaf_hash
from ..log.merkle import root as merkle_root
from ..log.sqlite import SQLiteStore
from ..log.store import LogStore, is_url
from ..log.verify import PROOF_FORMAT, sign_checkpoint
from ..matching import Confirmation, Decision, Evidence, Reason, Recommendation
from ..models import Assessment, Client, ReadableId, field_message
from ..product import Product
from .body import parse_body
from .idempotency import DryRunStore, IdempotencyTable
from .keys import KeyRing, Principal
from .metrics import MeteredStore, Metrics
from .problems import MEDIA_TYPE, TITLES, from_error, problem_body
from .workers import Workers

log = logging.getLogger("suitability.service")

#: The largest request body accepted (1 MiB); a larger one gets 413 before it is read whole.
MAX_BODY = 1 << 20
_IDEMPOTENCY_KEY_MAX = 255

Language = Literal["zh-CN", "en"]

#: The policies a service decides under when ``serve`` is given no ``--policy``.
DEFAULT_POLICIES = ("cn-csrc",)
#: How far a given ``as_of`` may be from the service's clock (``serve --as-of-tolerance``).
DEFAULT_AS_OF_TOLERANCE = timedelta(minutes=5)


# --- the request and response models (the OpenAPI contract is derived from them) -------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssessmentRequest(_Request):
    """Answers to score. The actor recorded is the caller's (its API key), never a body field."""

    questionnaire: str = Field(
        description="id[@version] of a registered questionnaire", examples=["cn-securities-individual"]
    )
    answers: dict[str, str | list[str] | StrictInt | StrictFloat] = Field(
        description="question id → option id (single), list of option ids (multi) or a number (a number question)"
    )
    client: Client | None = None
    as_of: AwareDatetime | None = Field(None, description="The instant the result is for; default: now.")


class DecisionRequest(_Request):
    """A decision on a recorded assessment, for one product given whole or by its id in the catalog."""

    assessment_id: str
    client: Client
    product: Product | None = None
    product_id: str | None = Field(None, description="A product of the service's catalog (--catalog).")
    policy: str = "cn-csrc"
    initiated_by: Literal["client", "firm"]
    as_of: AwareDatetime | None = None


class ConfirmationRequest(_Request):
    """The client's insistence on a requires_confirmation decision, after the warnings shown."""

    decision_id: str
    acknowledgement: str = Field(min_length=1, max_length=2000)
    channel: ReadableId
    shown_warnings: list[Reason] = Field(description="The warnings exactly as the app showed them.")
    language: Language = "zh-CN"
    evidence: Evidence | None = None
    confirmed_at: AwareDatetime | None = None


class RecommendationRequest(_Request):
    """A firm-initiated screen: the products given, those of the catalog named, or the whole catalog."""

    assessment_id: str
    client: Client
    products: list[Product] | None = None
    product_ids: list[str] | None = None
    policy: str = "cn-csrc"
    as_of: AwareDatetime | None = None


class Recommendations(BaseModel):
    """The suitable products of a screen (every product screened is recorded)."""

    recommendations: list[Recommendation]


class QuestionnaireSummary(BaseModel):
    id: str
    version: str
    status: str
    effective_from: str
    hash: str
    title: str | None


class FormOption(BaseModel):
    id: str
    text: str


class FormQuestion(BaseModel):
    id: str
    dimension: str
    type: Literal["single", "multi"]
    required: bool
    text: str
    help: str | None
    options: list[FormOption]
    enable_when: dict[str, Any] | None = Field(
        description="Ask only when this condition holds (the condition language of the questionnaire)."
    )


class Form(BaseModel):
    """A questionnaire as an app renders it, in one language; scores are not part of a form."""

    id: str
    version: str
    hash: str
    status: str
    language: Language
    title: str
    description: str | None
    validity_days: int | None
    questions: list[FormQuestion]


class RecordWithProof(BaseModel):
    """A record's exact bytes, its seq, and its inclusion proof against the latest checkpoint kept."""

    id: str
    seq: int
    record: str = Field(description="The record's canonical bytes, base64.")
    proof: dict[str, Any] | None = Field(
        description=f"A {PROOF_FORMAT} document (verify offline with `suitability audit verify-proof`), "
        "or null while no kept checkpoint covers the record yet."
    )
    public_key: str | None = Field(description="The verifier key of that checkpoint, as kept with the log (a hint).")


class ProblemDoc(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    titles: dict[str, str]
    error: str | None = None
    problems: list[dict[str, Any]] | None = None
    instance: str | None = None


_PROBLEM = {"model": ProblemDoc, "content": {MEDIA_TYPE: {}}}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {**_PROBLEM, "description": TITLES[s][1]} for s in (400, 401, 403, 404, 409, 413, 422, 503)
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {s: {**_PROBLEM, "description": TITLES[s][1]} for s in (401, 403, 404)}
_PROBLEM_TYPE = MEDIA_TYPE.encode()
#: The names of the Engine's calls in the contract (their operationIds derive from them).
_OPERATIONS = {
    "/v1/assessments": "post_assessment",
    "/v1/decisions": "post_decision",
    "/v1/confirmations": "post_confirmation",
    "/v1/recommendations": "post_recommendations",
}


def _contract_only(model: type[BaseModel]) -> Callable[..., Coroutine[Any, Any, Response]]:
    """An endpoint that only declares its body (``model``) to FastAPI for the OpenAPI document;
    :class:`Front` serves the route, so it is never called."""

    async def served_by_front(body: Any) -> Response:
        raise AssertionError("this route is served by Front, before FastAPI")

    body = inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)
    served_by_front.__signature__ = inspect.Signature([body], return_annotation=Response)  # type: ignore[attr-defined]
    return served_by_front


# --- plumbing ----------------------------------------------------------------------------------


class ServiceProblem(Exception):
    """A refusal by the service itself (not the library's): status, code, message, problems."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        problems: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail, self.problems, self.headers = status, code, detail, problems, headers


class _StrictJSONRequest(Request):
    """Bodies parsed by the library's strict JSON reader: duplicate keys, NaN or 1e400 are refused."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body(), "request body")
        return self._json


class _StrictRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


def language_of(request: Request) -> Language:
    """zh-CN or en, by ``Accept-Language`` (quality values honoured); zh-CN when neither is asked for."""
    return language_of_header(request.headers.get("accept-language", ""))


def language_of_header(accept_language: str) -> Language:
    """zh-CN or en for an ``Accept-Language`` value (quality values honoured); zh-CN when neither is asked for."""
    if not accept_language:
        return "zh-CN"
    best: tuple[float, Language] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang: Language | None = (
            "en" if tag.lower().startswith("en") else "zh-CN" if tag.lower().startswith("zh") else None
        )
        if lang is not None and quality > 0 and (best is None or quality > best[0]):
            best = (quality - position * 1e-6, lang)
    return best[1] if best else "zh-CN"


#: A response as the service writes it: status, headers, body bytes (already serialized).
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
_JSON = b"application/json"


def _reply(status: int, body: bytes, headers: Mapping[str, str] | None = None, media_type: bytes = _JSON) -> Reply:
    out = [(b"content-type", media_type)]
    if headers:
        out += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return status, out, body


@dataclass(frozen=True)
class Hot:
    """A write route served by :class:`Front` itself: its body model and what it does with a valid body."""

    model: type[BaseModel]
    handle: Callable[[Any, Principal, Mapping[bytes, bytes], bytes, str], Coroutine[Any, Any, Reply]]


class Front:
    """The one ASGI layer in front of FastAPI, pure ASGI (no Request or Response objects).

    For every HTTP request it measures the method, route, status and latency (``/metrics``) and
    refuses a body over ``limit`` bytes with 413 while reading it (Content-Length is not trusted).
    It serves the Engine's calls (``POST /v1/assessments``, ``decisions``, ``confirmations``,
    ``recommendations``) itself: the key checked, the body read once by the strict reader
    (:func:`.body.parse_body`) and validated into the request model, one hop to a worker thread
    for the Engine call (it waits for a durable commit, so it must not block the loop), the
    response written as the bytes the worker serialized. These routes are declared to FastAPI as
    well, with the same models, so that ``/openapi.json`` describes them; everything else is
    FastAPI's.
    """

    def __init__(self, app: FastAPI, service: "Service", hot: dict[str, Hot], limit: int = MAX_BODY) -> None:
        self.app, self.service, self.hot, self.limit = app, service, hot, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500
        route: str | None = None
        try:
            if method in ("GET", "HEAD"):
                body = b""
            else:
                read = await self._read(scope, receive)
                if read is None:  # the client went away
                    status = 499
                    return
                if isinstance(read, int):
                    status = 413
                    await self._refuse_too_large(path, send)
                    return
                body = read
            hot = self.hot.get(path) if method == "POST" else None
            if hot is not None:
                route = path
                status, headers, out = await self._serve(hot, scope, body)
                headers.append((b"content-length", str(len(out)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": out})
                return
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            async def tap(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            await self.app(scope, replay, tap)
        finally:
            if route is None:
                found = scope.get("route")
                route = getattr(found, "path", None) or "unmatched"
            if status != 499:
                self.service.metrics.request(method, route, status, time.perf_counter() - started)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | int | None:
        """The whole body; or the size found too large; or None when the client disconnected."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                return int(value)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return size
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _refuse_too_large(self, path: str, send: Send) -> None:
        self.service.metrics.error("BODY_TOO_LARGE")
        body = problem_body(
            413,
            "BODY_TOO_LARGE",
            f"expected a request body of at most {self.limit} bytes (1 MiB), found more; nothing was recorded",
            instance=path,
        )
        headers = [(b"content-type", MEDIA_TYPE.encode()), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _serve(self, hot: Hot, scope: Scope, raw: bytes) -> Reply:
        """A hot route's reply, a problem document for any refusal (never a traceback)."""
        headers: dict[bytes, bytes] = dict(scope["headers"])
        service = self.service
        path: str = scope["path"]
        try:
            principal = service.seller(headers.get(b"authorization", b"").decode("latin-1"))
            parsed = _json_body(headers.get(b"content-type"), raw)
            try:
                body = hot.model.model_validate(parsed)
            except ValidationError as exc:
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
                ) from None
            return await hot.handle(body, principal, headers, raw, path)
        except Exception as exc:  # every refusal becomes a problem document
            language = language_of_header(headers.get(b"accept-language", b"").decode("latin-1"))
            return service.problem(exc, path, language)


def _json_body(content_type: bytes | None, raw: bytes) -> Any:
    """The body as FastAPI would hand it to a model: JSON when so declared (or undeclared), else bytes."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    if content_type is not None:
        media = content_type.split(b";", 1)[0].strip().lower()
        if not (media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))):
            return raw
    return parse_body(raw, "request body")


# --- the service -------------------------------------------------------------------------------


@dataclass
class Checkpointing:
    """Signing a checkpoint whenever the log grew, every ``every`` seconds (``serve --checkpoint-key``)."""

    signer: Signer
    origin: str
    every: float = 60.0


class Service:
    """What the endpoints share: the Engine, the keys, the catalog, idempotency and metrics."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        catalog: list[Product] | None,
        metrics: Metrics,
        idempotency: IdempotencyTable | None,
        threads: int = 64,
        policies: Sequence[str] = DEFAULT_POLICIES,
        as_of_tolerance: timedelta | None = DEFAULT_AS_OF_TOLERANCE,
    ) -> None:
        self.engine, self.keys, self.metrics, self.idempotency = engine, keys, metrics, idempotency
        self.policies = tuple(policies)
        self.as_of_tolerance = as_of_tolerance
        self.catalog = {p.id: p for p in catalog or []}
        self.catalog_order = list(catalog or [])
        self._proof_lock = threading.Lock()
        self._proof_note: str | None = None
        self._proof_leaves: list[bytes] = []
        #: The worker threads the Engine calls run in (one per concurrent sale, up to ``threads``).
        self.workers = Workers(threads)

    @property
    def store(self) -> LogStore:
        return self.engine.store

    def redact(self, text: str) -> str:
        """A message without the log's location (a server path or host)."""
        return text.replace(self.store.location, "<log>") if self.store.location else text

    # authentication ----------------------------------------------------------------------

    def principal(self, authorization: str) -> Principal:
        """The caller of an ``Authorization`` header value.

        Raises:
            ServiceProblem: 401, no key or not a valid one.
        """
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            raise ServiceProblem(
                401,
                "API_KEY_MISSING",
                "expected an Authorization: Bearer <API key> header, found none",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = self.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise ServiceProblem(
                401,
                "API_KEY_INVALID",
                "expected a valid, unrevoked API key as a Bearer token, found another",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return found

    def seller(self, authorization: str) -> Principal:
        """The caller, who must hold a sales key.

        Raises:
            ServiceProblem: 401, no valid key; 403, not a sales key.
        """
        principal = self.principal(authorization)
        if principal.role != "sales":
            raise ServiceProblem(
                403, "ROLE_FORBIDDEN", f"expected a sales key to record results, found an {principal.role} key"
            )
        return principal

    # problems ----------------------------------------------------------------------------

    def problem(self, exc: BaseException, instance: str, language: Language) -> Reply:
        """The problem document answering ``exc``: the library's, the service's, a request that does
        not fit its schema, or (a bug, logged here) a plain 500."""
        if isinstance(exc, SuitabilityError):
            redacted = type(exc).__new__(type(exc))
            redacted.__dict__.update(exc.__dict__)
            redacted.summary = self.redact(exc.summary)
            redacted.problems = [
                Problem(self.redact(p.message), p.pointer, None, p.line, p.column, p.code) for p in exc.problems
            ]
            status, body = from_error(redacted, instance, language)
            self.metrics.error(exc.code)
            return _reply(status, body, {"Retry-After": "1"} if status == 503 else None, _PROBLEM_TYPE)
        if isinstance(exc, ServiceProblem):
            self.metrics.error(exc.code)
            body = problem_body(
                exc.status, exc.code, exc.detail, problems=exc.problems, instance=instance, language=language
            )
            return _reply(exc.status, body, exc.headers, _PROBLEM_TYPE)
        if isinstance(exc, RequestValidationError):
            status, code, problems = _validation_problems(exc)
            self.metrics.error(code)
            body = problem_body(
                status,
                code,
                "the request does not fit its schema; nothing was recorded",
                problems=problems,
                instance=instance,
                language=language,
            )
            return _reply(status, body, None, _PROBLEM_TYPE)
        log.error("internal error on %s", instance, exc_info=exc)
        self.metrics.error("INTERNAL")
        body = problem_body(
            500, "INTERNAL", "an internal error; it was logged on the server", instance=instance, language=language
        )
        return _reply(500, body, None, _PROBLEM_TYPE)

    # proofs -----------------------------------------------------------------------------

    def prove(self, seq: int) -> tuple[dict[str, Any] | None, str | None]:
        """The inclusion proof of ``seq`` against the latest kept checkpoint (its leaves cached)."""
        from ..log.checkpoint import unverified

        note = self.store.latest_checkpoint()
        if note is None:
            return None, None
        with self._proof_lock:
            if note != self._proof_note:
                checkpoint = unverified(note, "the latest checkpoint kept with the log")
                leaves = [leaf_hash(data) for _, data, _ in self.store.scan(0, checkpoint.size)]
                if len(leaves) != checkpoint.size or merkle_root(leaves) != checkpoint.root:
                    from ..errors import IntegrityError

                    raise IntegrityError(
                        "the log does not reproduce the latest checkpoint kept with it",
                        [Problem(f"expected the first {checkpoint.size} records to have the checkpoint's root")],
                    )
                self._proof_note, self._proof_leaves = note, leaves
            leaves = self._proof_leaves
        if seq >= len(leaves):
            return None, self.store.public_key()
        stored = self.store.get(seq)
        record = b"" if stored is None else stored.data
        proof = {
            "format": PROOF_FORMAT,
            "seq": seq,
            "tree_size": len(leaves),
            "record": base64.b64encode(record).decode(),
            "leaf_hash": base64.b64encode(leaves[seq]).decode(),
            "inclusion": [base64.b64encode(h).decode() for h in inclusion_proof(leaves, seq)],
            "checkpoint": note,
        }
        return proof, self.store.public_key()

    # running an Engine call -------------------------------------------------------------

    async def run(
        self,
        headers: Mapping[bytes, bytes],
        path: str,
        raw: bytes,
        principal: Principal,
        as_of: datetime | None,
        call: Callable[[Engine, datetime | None], tuple[bytes, str | None]],
    ) -> Reply:
        """Run ``call`` (an Engine call, rendered) in a worker thread; with an Idempotency-Key, at most once.

        One hop to a worker thread per request: the claim of an Idempotency-Key, the Engine call
        and the stored response happen in the same worker.
        """
        idempotency_key = headers.get(b"idempotency-key")
        at = "/confirmed_at" if path.endswith("/confirmations") else "/as_of"
        if idempotency_key is None:
            self.check_as_of(as_of, at)
            body, ident = await self.workers.run(call, self.engine, as_of)
            return self._created(body, ident)
        key = idempotency_key.decode("latin-1")
        if not 1 <= len(key) <= _IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
            raise ServiceProblem(
                400,
                "IDEMPOTENCY_KEY_INVALID",
                f"expected an Idempotency-Key of 1 to {_IDEMPOTENCY_KEY_MAX} printable ASCII characters, found {key[:40]!r}",
            )
        table = self.idempotency
        if table is None:
            raise ServiceProblem(400, "IDEMPOTENCY_UNSUPPORTED", "this service keeps no idempotency keys")
        fingerprint = hashlib.sha256(b"POST\n" + path.encode() + b"\n" + raw).hexdigest()
        pinned = (as_of or datetime.now(UTC)).isoformat()

        def once() -> Reply:
            claim = table.claim(principal.actor, key, fingerprint, pinned)
            if claim.state == "mismatch":
                raise ServiceProblem(
                    409,
                    "IDEMPOTENCY_KEY_REUSED",
                    "expected a retry to repeat its first request exactly, found another request under the same "
                    "Idempotency-Key; nothing was recorded",
                )
            if claim.state == "busy":
                raise ServiceProblem(
                    409,
                    "IDEMPOTENCY_KEY_IN_FLIGHT",
                    "a request with this Idempotency-Key is still being handled; retry it shortly",
                    headers={"Retry-After": "1"},
                )
            if claim.state == "replay":
                assert claim.body is not None and claim.status is not None
                self.metrics.replayed()
                ident = orjson.loads(claim.body).get("id") if claim.body.startswith(b"{") else None
                replayed = {"Idempotency-Replayed": "true"}
                if isinstance(ident, str):
                    replayed["Location"] = f"/v1/records/{ident}"
                return _reply(claim.status, claim.body, replayed)
            when = datetime.fromisoformat(claim.as_of or pinned)
            try:
                if claim.state != "resume":  # a resumed claim keeps the instant it was made at
                    self.check_as_of(as_of, at)
                if claim.state == "resume":  # a claim left unfinished: did its record reach the log?
                    dry_store = DryRunStore(self.store)
                    dry = Engine(self.engine.registry, dry_store, pseudonym_key=getattr(self.engine, "_key", None))
                    body, ident = call(dry, when)
                    last = dry_store.drafts[-1].key if dry_store.drafts else None
                    if last is None or self.store.find(last) is None:
                        body, ident = call(self.engine, when)
                else:
                    body, ident = call(self.engine, when)
            except BaseException:
                table.release(principal.actor, key)
                raise
            table.complete(principal.actor, key, 201, body)
            return self._created(body, ident)

        return await self.workers.run(once)

    def policy(self, name: str, at: str = "/policy") -> str:
        """``name``, when it is a policy this service decides under (``serve --policy``): which policy
        applies is the firm's choice, never the caller's (a salesperson could otherwise name a
        policy without the limit that blocks the sale)."""
        if name not in self.policies:
            raise ServiceProblem(
                422,
                "POLICY_NOT_ALLOWED",
                f"policy {name!r} is not one this service decides under",
                [
                    Problem(
                        f"expected one of {', '.join(self.policies)} (serve --policy), found {name!r}",
                        at,
                        code="POLICY_NOT_ALLOWED",
                    )
                ],
            )
        return name

    def check_as_of(self, as_of: datetime | None, at: str = "/as_of") -> None:
        """A given ``as_of`` must be the engine's now, within the tolerance (``serve --as-of-tolerance``):
        a caller cannot date a result to before a birthday, an expiry or a rule change."""
        tolerance = self.as_of_tolerance
        if as_of is None or tolerance is None:
            return
        now = self.engine.now()
        if abs(as_of - now) > tolerance:
            raise ServiceProblem(
                422,
                "AS_OF_NOT_NOW",
                "expected an as_of within the service's tolerance of its clock; nothing was recorded",
                [
                    Problem(
                        f"expected an instant within {tolerance.total_seconds():g} s of {now.isoformat()}, "
                        f"found {as_of.isoformat()}",
                        at,
                        code="AS_OF_NOT_NOW",
                    )
                ],
            )

    def _created(self, body: bytes, ident: str | None) -> Reply:
        return _reply(201, body, {"Location": f"/v1/records/{ident}"} if ident else None)

    def product(self, product_id: str) -> Product:
        found = self.catalog.get(product_id)
        if found is None:
            raise ServiceProblem(
                404,
                "UNKNOWN_PRODUCT",
                f"no product {product_id!r} in the service's catalog",
                [Problem(f"expected the id of a product in the catalog, found {product_id!r}", "/product_id")],
            )
        return found

    def inline(self, product: Product, at: str) -> Product:
        """A product given whole in a body: one whose id the catalog holds must be that product
        (a salesperson cannot relabel a catalog product's risk level, term or variety)."""
        known = self.catalog.get(product.id)
        if known is not None and known != product:
            fields = [f for f in type(product).model_fields if getattr(known, f) != getattr(product, f)]
            raise ServiceProblem(
                422,
                "PRODUCT_DIFFERS",
                f"product {product.id!r} differs from the service's catalog ({', '.join(fields)}); nothing was recorded",
                [
                    Problem(
                        f"expected {f} {getattr(known, f)!r} as in the catalog, found {getattr(product, f)!r}: "
                        "name the product by its id (product_id), or give it as the catalog has it",
                        f"{at}/{f}",
                        code="PRODUCT_DIFFERS",
                    )
                    for f in fields
                ],
            )
        return product

    def not_found_or(self, exc: DecisionError, ident: str, kind: str, at: str) -> Exception:
        """A DecisionError about a result the log lacks is a 404; any other stays as it is."""
        if self.store.find(ident) is None:
            return ServiceProblem(
                404,
                f"UNKNOWN_{kind.upper()}",
                f"{kind} {ident} is not in the decision log",
                [Problem(f"expected the id of a {kind} recorded in this log, found {ident!r}", at)],
            )
        return exc

    def ready(self) -> None:
        """Check that the log is reachable and writable now.

        Raises:
            ServiceProblem: 503, saying what failed.
        """
        store = getattr(self.store, "inner", self.store)
        try:
            if isinstance(store, SQLiteStore):
                db = sqlite3.connect(store.location, timeout=2.0, isolation_level=None)
                try:
                    db.execute("BEGIN IMMEDIATE")  # the write lock, as an append takes it
                    db.execute("SELECT MAX(seq) FROM records").fetchone()
                    db.execute("ROLLBACK")
                finally:
                    db.close()
            elif isinstance(url := getattr(store, "_url", None), str) and is_url(url):
                import psycopg

                with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                    conn.execute("SELECT MAX(seq) FROM records").fetchone()
                    row = conn.execute(
                        "SELECT has_function_privilege('suitability_append(bigint[], text[], text[], bytea[], bytea[])',"
                        " 'EXECUTE') AND NOT pg_is_in_recovery()"
                    ).fetchone()
                    if row is None or not row[0]:
                        raise ServiceProblem(503, "LOG_NOT_WRITABLE", "the decision log cannot be appended to")
            else:
                self.store.size()
        except ServiceProblem:
            raise
        except Exception as exc:  # any failure to reach the log means not ready
            raise ServiceProblem(
                503, "LOG_UNAVAILABLE", self.redact(f"the decision log is not reachable and writable: {exc}")
            ) from None


def _validation_problems(exc: RequestValidationError) -> tuple[int, str, list[Problem]]:
    problems: list[Problem] = []
    status, code = 422, "REQUEST_INVALID"
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        where = loc[0] if loc else "body"
        at = pointer(*loc[1:]) if where == "body" else pointer(*loc)
        if error.get("type") == "json_invalid":
            status, code = 400, "JSON_INVALID"
        if where == "body" and loc[1:] == ["actor"] and error.get("type") == "extra_forbidden":
            problems.append(
                Problem(
                    "expected no actor in the body: the actor recorded is the caller's, from its API key",
                    at,
                    code="ACTOR_FROM_KEY",
                )
            )
            continue
        problems.append(Problem(field_message(error), at, code="FIELD_INVALID"))
    return status, code, problems


def create_app(
    engine: Engine,
    keys: KeyRing,
    catalog: list[Product] | None = None,
    *,
    idempotency: IdempotencyTable | None = None,
    checkpointing: Checkpointing | None = None,
    threads: int = 64,
    policies: Sequence[str] = DEFAULT_POLICIES,
    as_of_tolerance: timedelta | None = DEFAULT_AS_OF_TOLERANCE,
) -> Front:
    """The ASGI app serving ``engine``: :class:`Front` before a FastAPI app.

    Args:
        engine: records every result before it is returned; give it a :class:`MeteredStore` for
            append metrics (``serve`` does).
        keys: the API keys accepted.
        catalog: the products a decision or screen may name by id.
        idempotency: where Idempotency-Keys are kept; without it such requests are refused (400).
        checkpointing: sign a checkpoint every so often when the log grew.
        threads: the most Engine calls running at once (worker threads).
        policies: the policies a decision or screen may name (``policy``, exactly as written here);
            the caller never picks one the firm did not configure.
        as_of_tolerance: how far a given ``as_of`` (or ``confirmed_at``) may be from the engine's
            clock; None accepts any (a caller could then date a result past a birthday or an expiry).
    """
    store = engine.store
    metrics = store.metrics if isinstance(store, MeteredStore) else Metrics()
    service = Service(engine, keys, catalog, metrics, idempotency, threads, policies, as_of_tolerance)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if checkpointing is not None:
            threading.Thread(target=sign_loop, args=(checkpointing,), name="checkpoints", daemon=True).start()
        yield
        stop.set()
        service.workers.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="suitability",
        version=__version__,
        summary="Investor suitability: assess, decide, confirm and recommend, each recorded before it is returned.",
        description="Every result is recorded in a tamper-evident decision log (RFC 6962 Merkle tree, signed "
        "checkpoints) before the response is sent. Authenticate with `Authorization: Bearer <API key>`.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = _StrictRoute
    app.state.service = service

    def _problem(request: Request, exc: BaseException) -> Response:
        status, headers, body = service.problem(exc, request.url.path, language_of(request))
        return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})

    @app.exception_handler(SuitabilityError)
    async def on_library_error(request: Request, exc: SuitabilityError) -> Response:
        return _problem(request, exc)

    @app.exception_handler(ServiceProblem)
    async def on_service_problem(request: Request, exc: ServiceProblem) -> Response:
        return _problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return _problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        cause = exc.__cause__
        if isinstance(cause, SuitabilityError):  # the strict JSON reader refused the body
            return _problem(request, cause)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, f"HTTP_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, ("", "error"))[1]
        return _problem(request, ServiceProblem(exc.status_code, code, detail, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> Response:
        return _problem(request, exc)

    async def caller(request: Request) -> Principal:
        return service.principal(request.headers.get("authorization", ""))

    Caller = Annotated[Principal, Depends(caller)]

    # --- operations ---------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="The process is up.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The decision log is reachable and writable.",
        responses={503: {**_PROBLEM, "description": "not ready"}},
    )
    async def readyz() -> dict[str, str]:
        await run_in_threadpool(service.ready)
        return {"status": "ready"}

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus text exposition.",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- questionnaires -----------------------------------------------------------------

    @app.get("/v1/questionnaires", tags=["questionnaires"], responses=_READ_ERRORS)
    async def questionnaires(request: Request, principal: Caller) -> list[QuestionnaireSummary]:
        lang = language_of(request)
        return [
            QuestionnaireSummary(
                id=e.id,
                version=e.version,
                status=e.status,
                effective_from=e.effective_from,
                hash=e.hash,
                title=(e.document.get("title") or {}).get(lang),
            )
            for e in engine.registry.entries("questionnaire")
        ]

    @app.get(
        "/v1/questionnaires/{ref}",
        tags=["questionnaires"],
        responses=_READ_ERRORS,
        summary="A form to render: questions, options, conditions and texts in the Accept-Language (zh-CN or en).",
    )
    async def questionnaire_form(ref: str, request: Request, principal: Caller) -> Form:
        lang = language_of(request)
        q = engine.registry.questionnaire(ref)
        m = q.model
        return Form(
            id=m.id,
            version=m.version,
            hash=q.hash,
            status=m.status,
            language=lang,
            title=m.title[lang],
            description=m.description[lang] if m.description else None,
            validity_days=m.validity_days,
            questions=[
                FormQuestion(
                    id=question.id,
                    dimension=question.dimension,
                    type=question.type,
                    required=question.required,
                    text=question.text[lang],
                    help=question.help[lang] if question.help else None,
                    options=[FormOption(id=o.id, text=o.text[lang]) for o in question.options],
                    enable_when=question.enable_when,
                )
                for question in m.questions
            ],
        )

    # --- the Engine's calls: served by Front (the declarations below are their OpenAPI contract) ----

    async def assess(
        body: AssessmentRequest, principal: Principal, headers: Mapping[bytes, bytes], raw: bytes, path: str
    ) -> Reply:
        def call(e: Engine, when: datetime | None) -> tuple[bytes, str | None]:
            a = e.assess(
                body.questionnaire, body.answers, body.client, when, actor=principal.actor, source="request body"
            )
            return a.model_dump_json().encode(), a.id

        return await service.run(headers, path, raw, principal, body.as_of, call)

    async def decide(
        body: DecisionRequest, principal: Principal, headers: Mapping[bytes, bytes], raw: bytes, path: str
    ) -> Reply:
        if (body.product is None) == (body.product_id is None):
            raise ServiceProblem(
                422,
                "PRODUCT_REQUIRED",
                "expected exactly one of product or product_id",
                [Problem("expected either a product or the id of one in the catalog", "/product")],
            )
        product = (
            service.inline(body.product, "/product")
            if body.product is not None
            else service.product(str(body.product_id))
        )

        policy = service.policy(body.policy)

        def call(e: Engine, when: datetime | None) -> tuple[bytes, str | None]:
            try:
                d = e.decide(
                    body.assessment_id,
                    product,
                    body.client,
                    policy,
                    body.initiated_by,
                    when,
                    actor=principal.actor,
                )
            except DecisionError as exc:
                raise service.not_found_or(exc, body.assessment_id, "assessment", "/assessment_id") from None
            return d.model_dump_json().encode(), d.id

        return await service.run(headers, path, raw, principal, body.as_of, call)

    async def confirm(
        body: ConfirmationRequest, principal: Principal, headers: Mapping[bytes, bytes], raw: bytes, path: str
    ) -> Reply:
        def call(e: Engine, when: datetime | None) -> tuple[bytes, str | None]:
            try:
                c = e.confirm(
                    body.decision_id,
                    body.acknowledgement,
                    principal.actor,
                    body.channel,
                    body.evidence,
                    language=body.language,
                    shown_warnings=body.shown_warnings,
                    confirmed_at=when,
                )
            except DecisionError as exc:
                raise service.not_found_or(exc, body.decision_id, "decision", "/decision_id") from None
            return c.model_dump_json().encode(), c.id

        return await service.run(headers, path, raw, principal, body.confirmed_at, call)

    async def recommend(
        body: RecommendationRequest, principal: Principal, headers: Mapping[bytes, bytes], raw: bytes, path: str
    ) -> Reply:
        if body.products is not None and body.product_ids is not None:
            raise ServiceProblem(422, "PRODUCTS_AMBIGUOUS", "expected products or product_ids, not both")
        if body.products is not None:
            products = [service.inline(p, f"/products/{i}") for i, p in enumerate(body.products)]
        elif body.product_ids is not None:
            products = [service.product(p) for p in body.product_ids]
        else:
            products = service.catalog_order

        policy = service.policy(body.policy)

        def call(e: Engine, when: datetime | None) -> tuple[bytes, str | None]:
            try:
                found = e.recommend(body.assessment_id, products, body.client, policy, when, actor=principal.actor)
            except DecisionError as exc:
                raise service.not_found_or(exc, body.assessment_id, "assessment", "/assessment_id") from None
            return Recommendations(recommendations=found).model_dump_json().encode(), None

        return await service.run(headers, path, raw, principal, body.as_of, call)

    hot: dict[str, Hot] = {
        "/v1/assessments": Hot(AssessmentRequest, assess),
        "/v1/decisions": Hot(DecisionRequest, decide),
        "/v1/confirmations": Hot(ConfirmationRequest, confirm),
        "/v1/recommendations": Hot(RecommendationRequest, recommend),
    }
    documented: dict[str, tuple[type[BaseModel], type[BaseModel], str]] = {
        "/v1/assessments": (AssessmentRequest, Assessment, "Recorded, then returned."),
        "/v1/decisions": (DecisionRequest, Decision, "Recorded, then returned."),
        "/v1/confirmations": (ConfirmationRequest, Confirmation, "Recorded, then returned."),
        "/v1/recommendations": (RecommendationRequest, Recommendations, "Every screened product recorded."),
    }
    for path, (request_model, result_model, description) in documented.items():
        app.post(
            path,
            status_code=201,
            tags=["sales"],
            response_model=None,
            responses={201: {"model": result_model, "description": description}, **_WRITE_ERRORS},
            name=_OPERATIONS[path],
        )(_contract_only(request_model))

    # --- the log ------------------------------------------------------------------------

    @app.get("/v1/records/{ident}", tags=["log"], responses=_READ_ERRORS)
    async def record(ident: str, principal: Caller) -> RecordWithProof:
        found = await run_in_threadpool(store.find, ident)
        if found is None:
            raise ServiceProblem(
                404,
                "UNKNOWN_RECORD",
                f"no record {ident!r} in the decision log",
                [Problem("expected the id of an assessment, decision or confirmation, or an artifact hash", "/id")],
            )
        proof, public_key = await run_in_threadpool(service.prove, found.seq)
        return RecordWithProof(
            id=ident, seq=found.seq, record=base64.b64encode(found.data).decode(), proof=proof, public_key=public_key
        )

    @app.get(
        "/v1/checkpoint",
        tags=["log"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "A C2SP signed note."}, **_READ_ERRORS},
    )
    async def checkpoint(principal: Caller) -> Response:
        note = await run_in_threadpool(store.latest_checkpoint)
        if note is None:
            raise ServiceProblem(404, "NO_CHECKPOINT", "no signed checkpoint is kept with the decision log yet")
        return Response(note, media_type="text/plain; charset=utf-8")

    # --- checkpoints signed in the background --------------------------------------------

    def sign_loop(cp: Checkpointing) -> None:
        while not stop.wait(cp.every):
            try:
                latest = store.checkpoints()
                if latest and latest[-1].size == store.size():
                    continue
                sign_checkpoint(store, cp.signer, cp.origin)  # verifies, signs and keeps it with the log
            except SuitabilityError as exc:
                log.error("could not sign a checkpoint: %s", exc.render())
            except Exception:
                log.exception("could not sign a checkpoint")

    return Front(app, service, hot)
