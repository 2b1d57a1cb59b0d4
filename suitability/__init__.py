"""suitability: an investor suitability engine.

Versioned JSON questionnaires score a client's answers into a risk profile C1–C5; a versioned
matching policy decides whether a product (R1–R5) suits the client, needs the client's confirmation
after a special warning, or is blocked, with every reason.

Names are imported on first use (PEP 562), so a program that needs one command or one model
does not pay for the whole library at start-up (the command line's cold start, issue 14).
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from .__about__ import __version__

if TYPE_CHECKING:
    from .codec import canonical_bytes, content_hash, parse_json, read_json
    from .engine import Engine
    from .errors import (
        DecisionError,
        DocumentConflictError,
        DocumentError,
        DocumentNotActiveError,
        InputError,
        IntegrityError,
        LogError,
        PairWarning,
        Problem,
        ProductError,
        RegistryError,
        ResponseError,
        SuitabilityError,
        SuitabilityWarning,
        UnknownDocumentError,
    )
    from .log import DEFAULT_LOG, LogStore, SQLiteStore, open_store
    from .log.checkpoint import Checkpoint, Signer, Verifier, open_note
    from .log.export import export
    from .log.verify import VerifyReport, prove, verify, verify_proof
    from .matching import (
        Confirmation,
        Decision,
        Evidence,
        Reason,
        Recommendation,
        confirm,
        decide,
        decide_many,
        recommend,
        warnings_hash,
    )
    from .models import (
        Assessment,
        Client,
        ConsistencyViolation,
        DocumentRef,
        Response,
        RuleFired,
        parse_instant,
    )
    from .policy import REASON_CODES, Policy, load_policy
    from .product import Product, find_product, load_catalog, parse_product
    from .questionnaire import Questionnaire, load_questionnaire
    from .registry import Registry
    from .replay import ReplayReport, replay
    from .scoring import assess

#: Where each public name lives (relative to this package).
_WHERE = {
    "canonical_bytes": ".codec",
    "content_hash": ".codec",
    "parse_json": ".codec",
    "read_json": ".codec",
    "Engine": ".engine",
    "DecisionError": ".errors",
    "DocumentConflictError": ".errors",
    "DocumentError": ".errors",
    "DocumentNotActiveError": ".errors",
    "InputError": ".errors",
    "IntegrityError": ".errors",
    "LogError": ".errors",
    "PairWarning": ".errors",
    "Problem": ".errors",
    "ProductError": ".errors",
    "RegistryError": ".errors",
    "ResponseError": ".errors",
    "SuitabilityError": ".errors",
    "SuitabilityWarning": ".errors",
    "UnknownDocumentError": ".errors",
    "DEFAULT_LOG": ".log",
    "LogStore": ".log",
    "SQLiteStore": ".log",
    "open_store": ".log",
    "Checkpoint": ".log.checkpoint",
    "Signer": ".log.checkpoint",
    "Verifier": ".log.checkpoint",
    "open_note": ".log.checkpoint",
    "export": ".log.export",
    "VerifyReport": ".log.verify",
    "prove": ".log.verify",
    "verify": ".log.verify",
    "verify_proof": ".log.verify",
    "Confirmation": ".matching",
    "Decision": ".matching",
    "Evidence": ".matching",
    "Reason": ".matching",
    "Recommendation": ".matching",
    "confirm": ".matching",
    "decide": ".matching",
    "decide_many": ".matching",
    "recommend": ".matching",
    "warnings_hash": ".matching",
    "Assessment": ".models",
    "Client": ".models",
    "ConsistencyViolation": ".models",
    "DocumentRef": ".models",
    "Response": ".models",
    "RuleFired": ".models",
    "parse_instant": ".models",
    "REASON_CODES": ".policy",
    "Policy": ".policy",
    "load_policy": ".policy",
    "Product": ".product",
    "find_product": ".product",
    "load_catalog": ".product",
    "parse_product": ".product",
    "Questionnaire": ".questionnaire",
    "load_questionnaire": ".questionnaire",
    "Registry": ".registry",
    "ReplayReport": ".replay",
    "replay": ".replay",
    "assess": ".scoring",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """This package, keeping ``suitability.replay`` the function when its submodule of the same name loads.

    Importing a submodule sets it as an attribute of its package; the eager imports this file once
    had rebound the name to the function right after, and this does the same when the submodule
    is first imported by anyone (``from suitability.replay import replay`` still finds the module).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == f".{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "DEFAULT_LOG",
    "REASON_CODES",
    "Assessment",
    "Checkpoint",
    "Client",
    "Confirmation",
    "ConsistencyViolation",
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
    "PairWarning",
    "Policy",
    "Problem",
    "Product",
    "ProductError",
    "Questionnaire",
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
    "SuitabilityWarning",
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
    "find_product",
    "load_catalog",
    "load_policy",
    "load_questionnaire",
    "open_note",
    "open_store",
    "parse_instant",
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
