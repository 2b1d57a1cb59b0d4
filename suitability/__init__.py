"""suitability: an investor suitability engine.

Versioned JSON questionnaires score a client's answers into a risk profile C1–C5; a versioned
matching policy decides whether a product (R1–R5) suits the client, needs the client's confirmation
after a special warning, or is blocked, with every reason.
"""

from .__about__ import __version__
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
    Problem,
    ProductError,
    RegistryError,
    ResponseError,
    SuitabilityError,
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
