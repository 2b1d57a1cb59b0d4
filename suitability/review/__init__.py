"""Reviewing a decision log, for regulators and compliance: query rows, the report's figures, the
HTML rendering and the demo generator. Everything here reads the log; nothing here writes to it
but the demo.
"""

from __future__ import annotations

from .figures import Review, ReviewConfig, load_config, review, review_json
from .query import OUTCOMES, ROW_FIELDS, TIMES, QueryFilter, parse_time, query, reason_values, rows

__all__ = [
    "OUTCOMES",
    "ROW_FIELDS",
    "TIMES",
    "QueryFilter",
    "Review",
    "ReviewConfig",
    "load_config",
    "parse_time",
    "query",
    "reason_values",
    "review",
    "review_json",
    "rows",
]
