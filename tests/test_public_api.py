"""The public API (suitability/__init__.py, with __all__) keeps every name it had before the package
moved into its rooms (issue 11): an app importing `from suitability import X` is not broken."""

from __future__ import annotations

import suitability

#: suitability.__all__ as it was before the move (commit 9c169c2).
BEFORE_THE_MOVE = [
    "Assessment",
    "Checkpoint",
    "Client",
    "Confirmation",
    "ConsistencyViolation",
    "DEFAULT_LOG",
    "Decision",
    "DecisionError",
    "DocumentConflictError",
    "DocumentError",
    "DocumentNotActiveError",
    "DocumentRef",
    "Engine",
    "Evidence",
    "InputError",
    "IntegrityError",
    "LogError",
    "LogStore",
    "Policy",
    "Problem",
    "Product",
    "ProductError",
    "Questionnaire",
    "REASON_CODES",
    "Reason",
    "Recommendation",
    "Registry",
    "RegistryError",
    "ReplayReport",
    "Response",
    "ResponseError",
    "RuleFired",
    "SQLiteStore",
    "Signer",
    "SuitabilityError",
    "UnknownDocumentError",
    "Verifier",
    "VerifyReport",
    "__version__",
    "assess",
    "canonical_bytes",
    "confirm",
    "content_hash",
    "decide",
    "decide_many",
    "export",
    "load_catalog",
    "load_policy",
    "load_questionnaire",
    "open_note",
    "open_store",
    "parse_json",
    "parse_product",
    "prove",
    "read_json",
    "recommend",
    "replay",
    "verify",
    "verify_proof",
    "warnings_hash",
]


def test_every_public_name_still_imports_from_the_package() -> None:
    missing = [name for name in BEFORE_THE_MOVE if not hasattr(suitability, name)]
    assert missing == []
    assert set(BEFORE_THE_MOVE) <= set(suitability.__all__)


def test_all_names_only_what_the_package_has() -> None:
    assert sorted(suitability.__all__) == sorted(set(suitability.__all__))
    assert all(hasattr(suitability, name) for name in suitability.__all__)
