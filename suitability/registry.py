"""The document registry: questionnaires and policies found by ``id@version``.

Documents come from the bundled folders (inside the wheel, or beside the package in a checkout),
from folders named by ``SUITABILITY_DOCUMENTS`` (separated as in ``PATH``) or passed in, and from
single files. Every ``*.json`` file under a folder is read; it is a document when its ``kind`` is
one the registry knows, and is skipped otherwise (answers or catalogs may sit beside documents).
A file under a folder that cannot be read as one (malformed JSON, a FIFO, a document without a
usable id) is recorded in :attr:`Registry.problems` and reported through ``on_problem``, not
raised: one bad unrelated file must not stop the work on every other document. Asking for the id
such a file's path names (``<id>/<version>.json`` or ``<id>.json``) raises that file's own error.

Identity is ``(kind, id, version)``. Two documents with the same identity and the same content
hash are one document; with different hashes they are a :class:`DocumentConflictError`, never a
silent override. A reference without a version resolves to the active version with the latest
``effective_from``. Documents are validated and compiled on first use, then cached.

A questionnaire and a policy used together are checked as a pair the first time they meet
(:meth:`Registry.check_pair`; the engine does it before deciding): what makes the pair unusable (a
profile scale the policy does not accept) is a :class:`DocumentError`, every time; what the pair
cannot do (no horizon or variety derived, a level never reached, a risk level no profile may buy)
is reported once per pair as a :class:`PairWarning`, through ``on_warning`` or, without one, Python's
:func:`warnings.warn`, and kept in :attr:`Registry.pair_warnings`.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .codec import content_hash, read_json
from .errors import (
    DocumentConflictError,
    DocumentError,
    DocumentNotActiveError,
    InputError,
    PairWarning,
    Problem,
    SuitabilityError,
    UnknownDocumentError,
)
from .policy import Policy, check_pair, load_policy
from .questionnaire import Questionnaire, load_questionnaire

ENV_VAR = "SUITABILITY_DOCUMENTS"
KINDS = ("questionnaire", "policy")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
_LOADERS: dict[str, Callable[[Any, str | None], Any]] = {
    "questionnaire": load_questionnaire,
    "policy": load_policy,
}


@dataclass(frozen=True)
class Entry:
    """One registered document, before or after validation."""

    kind: str
    id: str
    version: str
    status: str
    effective_from: str
    hash: str
    document: dict[str, Any] = field(repr=False)
    source: str

    @property
    def ref(self) -> str:
        """``id@version``."""
        return f"{self.id}@{self.version}"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``id[@version]``, refusing anything that is not a plain id (no path characters).

    Raises:
        UnknownDocumentError: the reference is not of the form ``id[@version]``.
    """
    doc_id, _, version = ref.partition("@")
    if not _ID.match(doc_id) or (version and not _VERSION.match(version)):
        raise UnknownDocumentError(
            f"not a document reference: {ref!r}",
            [
                Problem(
                    "expected id[@version] with an id of lowercase letters, digits, '-' and '_' "
                    f"(no path characters), found {ref!r}",
                    code="BAD_REFERENCE",
                )
            ],
        )
    return doc_id, version or None


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[._-]", version))


def bundled_folders() -> list[Path]:
    """Return the folders holding the bundled questionnaires and policies."""
    packaged = Path(str(resources.files("suitability"))) / "_documents"
    if packaged.is_dir():
        return [packaged / "questionnaires", packaged / "policies"]
    root = Path(__file__).resolve().parent.parent  # a source checkout
    return [root / "questionnaires", root / "policies"]


def folders_from_env(environ: Mapping[str, str]) -> list[Path]:
    """Return the folders named by ``SUITABILITY_DOCUMENTS`` in ``environ``."""
    return [Path(p) for p in environ.get(ENV_VAR, "").split(os.pathsep) if p]


class Registry:
    """Questionnaires and policies by ``id@version``; safe to share between threads."""

    def __init__(
        self,
        on_problem: Callable[[Path, SuitabilityError], None] | None = None,
        on_warning: Callable[[PairWarning], None] | None = None,
    ) -> None:
        """Start an empty registry.

        Args:
            on_problem: called with each file under a folder that could not be registered and its
                error (the CLI prints a warning naming the file); the file is skipped.
            on_warning: called once per questionnaire and policy pair that cannot do everything
                together (the CLI prints it on stderr); without it, :func:`warnings.warn` is.
        """
        self._entries: dict[tuple[str, str, str], Entry] = {}
        self._loaded: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        #: Files under the registered folders that could not be registered, with their errors.
        self.problems: list[tuple[Path, SuitabilityError]] = []
        self.on_problem = on_problem
        #: Every pair checked that cannot do everything, once each, in the order they met.
        self.pair_warnings: list[PairWarning] = []
        self.on_warning = on_warning
        self._pairs: dict[tuple[str, str], tuple[tuple[Problem, ...], PairWarning | None]] = {}

    @classmethod
    def default(
        cls,
        folders: Iterable[str | Path] = (),
        environ: Mapping[str, str] | None = None,
        on_problem: Callable[[Path, SuitabilityError], None] | None = None,
        on_warning: Callable[[PairWarning], None] | None = None,
    ) -> Registry:
        """Return a registry of the bundled documents, ``$SUITABILITY_DOCUMENTS`` and ``folders``."""
        registry = cls(on_problem, on_warning)
        env = os.environ if environ is None else environ
        for folder in [*bundled_folders(), *folders_from_env(env), *map(Path, folders)]:
            registry.add_folder(folder)
        return registry

    def add_folder(self, folder: str | Path) -> list[Entry]:
        """Register every document among the ``*.json`` files under ``folder`` (recursively).

        A file that cannot be read, or a document without a usable id or version, is recorded in
        :attr:`problems` and skipped.

        Raises:
            UnknownDocumentError: ``folder`` is not a folder.
            DocumentConflictError: two documents claim one identity with different contents.
        """
        path = Path(folder)
        if not path.is_dir():
            raise UnknownDocumentError(
                f"no document folder at {path}",
                [Problem("expected a folder of JSON documents, found none", source=str(path))],
            )
        added = []
        for file in sorted(path.rglob("*.json")):
            try:
                document = read_json(file)
                if isinstance(document, dict) and document.get("kind") in KINDS:
                    added.append(self.add_document(document, str(file)))
            except (InputError, UnknownDocumentError) as exc:
                self._skip(file, exc)
        return added

    def _skip(self, file: Path, error: SuitabilityError) -> None:
        with self._lock:
            self.problems.append((file, error))
        if self.on_problem is not None:
            self.on_problem(file, error)

    def _unreadable_named(self, doc_id: str, version: str | None) -> SuitabilityError | None:
        """The error of a skipped file whose path names ``doc_id`` (and ``version``), if any.

        Such a file may hold the very document asked for (say, its newest version), so the
        answer is its error, not silently another version: the registry fails closed.
        """
        for file, error in self.problems:
            if file.stem == doc_id or (file.parent.name == doc_id and version in (None, file.stem)):
                return error
            if version is not None and file.stem == f"{doc_id}@{version}":
                return error
        return None

    def add_file(self, file: str | Path) -> Entry:
        """Register the document in ``file`` (its kind must be a known one)."""
        document = read_json(file)
        if not isinstance(document, dict) or document.get("kind") not in KINDS:
            found = document.get("kind") if isinstance(document, dict) else type(document).__name__
            raise UnknownDocumentError(
                f"{file} is not a document",
                [
                    Problem(
                        f"expected 'kind' to be one of {list(KINDS)}, found {found!r}",
                        "/kind",
                        source=str(file),
                    )
                ],
            )
        return self.add_document(document, str(file))

    def add_document(self, document: dict[str, Any], source: str) -> Entry:
        """Register a parsed document.

        Raises:
            UnknownDocumentError: the document has no valid kind, id or version.
            DocumentConflictError: another document has its identity but a different hash.
        """
        problems = []
        for name, pattern in (("id", _ID), ("version", _VERSION)):
            value = document.get(name)
            if not isinstance(value, str) or not pattern.match(value):
                problems.append(
                    Problem(
                        f"expected a plain {name} string, found {value!r}",
                        "/" + name,
                        source=source,
                    )
                )
        if problems:
            raise UnknownDocumentError(f"{source} has no usable identity", problems)
        entry = Entry(
            kind=document["kind"],
            id=document["id"],
            version=document["version"],
            status=str(document.get("status", "")),
            effective_from=str(document.get("effective_from", "")),
            hash=content_hash(document),
            document=document,
            source=source,
        )
        key = (entry.kind, entry.id, entry.version)
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:
                if existing.hash != entry.hash:
                    raise DocumentConflictError(
                        f"two different {entry.kind} documents claim {entry.ref}",
                        [
                            Problem(f"has content hash {existing.hash}", source=existing.source),
                            Problem(f"has content hash {entry.hash}", source=source),
                        ],
                    )
                return existing
            self._entries[key] = entry
        return entry

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Return the registered documents, by kind, id and version."""
        found = [e for e in self._entries.values() if kind is None or e.kind == kind]
        return sorted(found, key=lambda e: (e.kind, e.id, _version_key(e.version)))

    def resolve(self, kind: str, ref: str) -> Entry:
        """Return the entry for ``id@version``, or the active version for a bare ``id``.

        Raises:
            UnknownDocumentError: no such document (the message lists what there is).
        """
        doc_id, version = parse_ref(ref)
        unreadable = self._unreadable_named(doc_id, version)
        if unreadable is not None:
            raise unreadable
        versions = [e for e in self.entries(kind) if e.id == doc_id]
        if version is not None:
            for entry in versions:
                if entry.version == version:
                    return entry
        else:
            active = [e for e in versions if e.status == "active"]
            if active:
                return max(active, key=lambda e: (e.effective_from, _version_key(e.version)))
        known = ", ".join(e.ref + f" ({e.status})" for e in versions) or "none"
        ids = sorted({e.id for e in self.entries(kind)})
        expected = f"versions of {doc_id}: {known}" if versions else f"one of {ids}"
        what = f"{kind} {ref}" if version else f"active {kind} {ref}"
        skipped = [
            Problem(f"skipped, so it may be the one asked for: {error.summary}", source=str(file), code="SKIPPED")
            for file, error in self.problems
        ]
        raise UnknownDocumentError(f"no {what}", [Problem(f"expected {expected}", code="UNKNOWN_DOCUMENT"), *skipped])

    def _load(self, entry: Entry) -> Any:
        key = (entry.kind, entry.id, entry.version)
        loaded = self._loaded.get(key)
        if loaded is None:
            loaded = _LOADERS[entry.kind](entry.document, entry.source)
            with self._lock:
                loaded = self._loaded.setdefault(key, loaded)
        return loaded

    def questionnaire(self, ref: str, *, allow_retired: bool = True) -> Questionnaire:
        """Return the validated questionnaire ``id[@version]``.

        Raises:
            UnknownDocumentError: no such questionnaire.
            DocumentNotActiveError: it is retired and ``allow_retired`` is false.
            DocumentError: it fails validation.
        """
        entry = self.resolve("questionnaire", ref)
        _check_active(entry, allow_retired)
        result: Questionnaire = self._load(entry)
        return result

    def policy(self, ref: str, *, allow_retired: bool = True) -> Policy:
        """Return the validated policy ``id[@version]`` (errors as :meth:`questionnaire`)."""
        entry = self.resolve("policy", ref)
        _check_active(entry, allow_retired)
        result: Policy = self._load(entry)
        return result

    def load_file(self, kind: str, file: str | Path, *, allow_retired: bool = True) -> Any:
        """Register ``file`` for this run and return it validated; it must be of ``kind``."""
        entry = self.add_file(file)
        if entry.kind != kind:
            raise UnknownDocumentError(
                f"{file} is not a {kind}",
                [Problem(f"expected kind {kind!r}, found {entry.kind!r}", "/kind", source=str(file))],
            )
        _check_active(entry, allow_retired)
        return self._load(entry)

    def resolve_questionnaire(self, ref_or_path: str | Path, *, allow_retired: bool = True) -> Questionnaire:
        """Return the questionnaire named by ``ref_or_path``: an existing file, else ``id[@version]``.

        A path naming an existing file is loaded with :meth:`load_file` (registered for this run);
        anything else is a reference for :meth:`questionnaire`. This is how the command line reads
        ``--questionnaire``.

        Raises:
            UnknownDocumentError: no such file or questionnaire, or the file holds another kind.
            DocumentNotActiveError: it is retired and ``allow_retired`` is false.
            DocumentError: it fails validation.
            InputError: the file cannot be read as JSON.
        """
        if Path(ref_or_path).is_file():
            found: Questionnaire = self.load_file("questionnaire", ref_or_path, allow_retired=allow_retired)
            return found
        return self.questionnaire(str(ref_or_path), allow_retired=allow_retired)

    def resolve_policy(self, ref_or_path: str | Path, *, allow_retired: bool = True) -> Policy:
        """Return the policy named by ``ref_or_path``: an existing file, else ``id[@version]``.

        Errors as :meth:`resolve_questionnaire`.
        """
        if Path(ref_or_path).is_file():
            found: Policy = self.load_file("policy", ref_or_path, allow_retired=allow_retired)
            return found
        return self.policy(str(ref_or_path), allow_retired=allow_retired)

    def check_pair(self, questionnaire: Questionnaire, policy: Policy) -> list[Problem]:
        """Check ``questionnaire`` and ``policy`` as a pair (:func:`suitability.policy.check_pair`).

        The check runs once per pair (by content hash). Its warnings are reported the first time
        only: to ``on_warning``, else as a :class:`PairWarning` through :func:`warnings.warn`, and
        appended to :attr:`pair_warnings`. Returns the pair's warnings (every time).

        Raises:
            DocumentError: the pair cannot be used together (a profile scale the policy does not
                accept), naming both documents; raised on every call.
        """
        key = (questionnaire.hash, policy.hash)
        known = self._pairs.get(key)
        if known is None:
            errors, found = check_pair(policy, questionnaire)
            q_ref, p_ref = f"{questionnaire.id}@{questionnaire.version}", f"{policy.id}@{policy.version}"
            # an unusable pair is an error, every time: what it could not do besides is not reported
            warning = PairWarning(q_ref, p_ref, found) if found and not errors else None
            with self._lock:
                first = key not in self._pairs
                known = self._pairs.setdefault(key, (tuple(errors), warning))
                if first and warning is not None:
                    self.pair_warnings.append(warning)
            if first and warning is not None:
                if self.on_warning is not None:
                    self.on_warning(warning)
                else:
                    warnings.warn(warning, stacklevel=2)
        errors_, warning = known
        if errors_:
            raise DocumentError(
                f"policy {policy.id}@{policy.version} cannot be used with questionnaire "
                f"{questionnaire.id}@{questionnaire.version}",
                errors_,
            )
        return [] if warning is None else list(warning.problems)

    def check_recorded_pair(self, questionnaire_id: str, version: str, hash_: str, policy: Policy) -> list[Problem]:
        """:meth:`check_pair` for the questionnaire an assessment names, when it is registered here.

        A questionnaire not registered (or registered with other content) is not checked: the
        assessment alone does not say what its questionnaire can derive. Errors as :meth:`check_pair`.
        """
        key = (hash_, policy.hash)
        known = self._pairs.get(key)
        if known is not None and not known[0]:
            return [] if known[1] is None else list(known[1].problems)
        entry = self._entries.get(("questionnaire", questionnaire_id, version))
        if entry is None or entry.hash != hash_:
            return []
        return self.check_pair(self._load(entry), policy)

    def pair(
        self, questionnaire: str | Path, policy: str | Path, *, allow_retired: bool = True
    ) -> tuple[Questionnaire, Policy]:
        """Resolve a questionnaire and a policy used together (each a file or ``id[@version]``) and
        check them as a pair (:meth:`check_pair`).

        Raises:
            DocumentError: either fails validation, or the pair cannot be used together.
            UnknownDocumentError, DocumentNotActiveError, InputError: as :meth:`resolve_questionnaire`.
        """
        q = self.resolve_questionnaire(questionnaire, allow_retired=allow_retired)
        p = self.resolve_policy(policy, allow_retired=allow_retired)
        self.check_pair(q, p)
        return q, p


def _check_active(entry: Entry, allow_retired: bool) -> None:
    if not allow_retired and entry.status == "retired":
        raise DocumentNotActiveError(
            f"{entry.kind} {entry.ref} is retired",
            [
                Problem(
                    "expected an active (or draft) document for new work, found status 'retired'",
                    "/status",
                    source=entry.source,
                )
            ],
        )
