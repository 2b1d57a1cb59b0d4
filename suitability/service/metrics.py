"""Prometheus text exposition (format 0.0.4) of what the service does, written by hand.

Requests by method, route and status; request latency; records appended and the size of each
commit (counted where the Engine hands the store a batch, so group commit shows in the
histogram); errors by the library's code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ..log.store import Draft, KeptCheckpoint, LogStore, Row, Stored

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += value

    def lines(self, name: str, labels: str = "") -> Iterator[str]:
        running = 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            yield f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}'
        yield f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}'
        braces = f"{{{labels}}}" if labels else ""
        yield f"{name}_sum{braces} {self.sum:.6f}"
        yield f"{name}_count{braces} {self.total}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and histograms, safe between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.errors: dict[str, int] = {}
        self.appended = 0
        self.commits = 0
        self.batch = _Histogram(_BATCH_BUCKETS)
        self.commit_seconds = _Histogram(_LATENCY_BUCKETS)
        self.replays = 0

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            histogram = self.latency.get(route)
            if histogram is None:
                histogram = self.latency[route] = _Histogram(_LATENCY_BUCKETS)
            histogram.observe(seconds)

    def error(self, code: str) -> None:
        with self._lock:
            self.errors[code] = self.errors.get(code, 0) + 1

    def replayed(self) -> None:
        with self._lock:
            self.replays += 1

    def committed(self, records: int, seconds: float) -> None:
        with self._lock:
            self.appended += records
            self.commits += 1
            self.batch.observe(records)
            self.commit_seconds.observe(seconds)

    def render(self) -> str:
        """The exposition text."""
        with self._lock:
            out = [
                "# HELP suitability_http_requests_total HTTP requests by method, route and status.",
                "# TYPE suitability_http_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(
                    f'suitability_http_requests_total{{method="{method}",route="{_label(route)}",status="{status}"}} {n}'
                )
            out += [
                "# HELP suitability_http_request_duration_seconds Time from request to response, by route.",
                "# TYPE suitability_http_request_duration_seconds histogram",
            ]
            for route, histogram in sorted(self.latency.items()):
                out += histogram.lines("suitability_http_request_duration_seconds", f'route="{_label(route)}"')
            out += [
                "# HELP suitability_errors_total Refused or failed requests by error code.",
                "# TYPE suitability_errors_total counter",
            ]
            out += [f'suitability_errors_total{{code="{_label(c)}"}} {n}' for c, n in sorted(self.errors.items())]
            out += [
                "# HELP suitability_idempotent_replays_total Responses replayed for a retried Idempotency-Key.",
                "# TYPE suitability_idempotent_replays_total counter",
                f"suitability_idempotent_replays_total {self.replays}",
                "# HELP suitability_log_appended_records_total Records appended to the decision log (artifacts aside).",
                "# TYPE suitability_log_appended_records_total counter",
                f"suitability_log_appended_records_total {self.appended}",
                "# HELP suitability_log_commits_total Appends (durable commits) to the decision log.",
                "# TYPE suitability_log_commits_total counter",
                f"suitability_log_commits_total {self.commits}",
                "# HELP suitability_log_batch_records Records per append.",
                "# TYPE suitability_log_batch_records histogram",
                *self.batch.lines("suitability_log_batch_records"),
                "# HELP suitability_log_commit_seconds Time of an append, to its durable commit.",
                "# TYPE suitability_log_commit_seconds histogram",
                *self.commit_seconds.lines("suitability_log_commit_seconds"),
            ]
        return "\n".join(out) + "\n"


class MeteredStore(LogStore):
    """A store that counts the appends made through it and delegates everything to ``inner``."""

    def __init__(self, inner: LogStore, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.location = inner.location

    def __getattr__(self, name: str) -> Any:  # what a particular store adds (upgrade, …)
        return getattr(self.inner, name)

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        started = time.perf_counter()
        stored = self.inner.append(drafts)
        self.metrics.committed(len(stored), time.perf_counter() - started)
        return stored

    def append_raw(self, rows: Sequence[Row]) -> None:
        self.inner.append_raw(rows)

    def size(self) -> int:
        return self.inner.size()

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        return self.inner.scan(start, end)

    def find(self, key: str) -> Stored | None:
        return self.inner.find(key)

    def get(self, seq: int) -> Stored | None:
        return self.inner.get(seq)

    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        self.inner.add_checkpoint(size, note, public_key)

    def checkpoints(self) -> list[KeptCheckpoint]:
        return self.inner.checkpoints()

    def latest_kept(self) -> KeptCheckpoint | None:
        return self.inner.latest_kept()

    def close(self) -> None:
        self.inner.close()
