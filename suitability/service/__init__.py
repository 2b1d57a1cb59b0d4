"""The HTTP service for sales apps in any language (``suitability serve``).

It sits at the top of the layers beside the CLI: it may import anything, nothing imports it (the
CLI imports it only inside ``serve``). FastAPI and uvicorn come with ``pip install
'suitability[service]'``.
"""

from __future__ import annotations

from .app import DEFAULT_AS_OF_TOLERANCE, DEFAULT_POLICIES, Checkpointing, create_app
from .keys import KeyRing, Principal, add_key, load_keys, revoke_key
from .run import serve

__all__ = [
    "DEFAULT_AS_OF_TOLERANCE",
    "DEFAULT_POLICIES",
    "Checkpointing",
    "KeyRing",
    "Principal",
    "add_key",
    "create_app",
    "load_keys",
    "revoke_key",
    "serve",
]
