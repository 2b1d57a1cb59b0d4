"""suitability: an investor suitability engine.

Versioned JSON questionnaires score a client's answers into a risk profile C1–C5; a versioned
matching policy decides whether a product (R1–R5) suits the client, needs the client's confirmation
after a special warning, or is blocked, with every reason.
"""

from .__about__ import __version__
from .codec import canonical_bytes, content_hash, parse_json, read_json
from .errors import (
    DecisionError,
    DocumentConflictError,
    DocumentError,
    DocumentNotActiveError,
    InputError,
    Problem,
    ProductError,
    RegistryError,
    ResponseError,
    SuitabilityError,
    UnknownDocumentError,
)
from .matching import (
    Confirmation,
    Decision,
    Evidence,
    Reason,
    Recommendation,
    confirm,
    decide,
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
)
from .policy import REASON_CODES, Policy, load_policy
from .product import Product, load_catalog, parse_product
from .questionnaire import Questionnaire, load_questionnaire
from .registry import Registry
from .scoring import assess

__all__ = [
    "REASON_CODES",
    "Assessment",
    "Client",
    "Confirmation",
    "ConsistencyViolation",
    "Decision",
    "DecisionError",
    "DocumentConflictError",
    "DocumentError",
    "DocumentNotActiveError",
    "DocumentRef",
    "Evidence",
    "InputError",
    "Policy",
    "Problem",
    "Product",
    "ProductError",
    "Questionnaire",
    "Reason",
    "Recommendation",
    "Registry",
    "RegistryError",
    "Response",
    "ResponseError",
    "RuleFired",
    "SuitabilityError",
    "UnknownDocumentError",
    "__version__",
    "assess",
    "canonical_bytes",
    "confirm",
    "content_hash",
    "decide",
    "load_catalog",
    "load_policy",
    "load_questionnaire",
    "parse_json",
    "parse_product",
    "read_json",
    "recommend",
    "warnings_hash",
]
