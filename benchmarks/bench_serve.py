"""Sales per second over HTTP (`suitability serve`) beside the in-process Engine, at 1, 8 and 64 clients.

Run: python benchmarks/bench_serve.py [--rounds 3] [--sales 200] [--concurrency 1,8,64]

A sale is what a sales app does: assess, decide (a product that requires confirmation) and
confirm: three calls, three records (plus the documents' artifacts, once per log). The service
side runs `suitability serve` in its own process on 127.0.0.1 over a SQLite log in a temporary
folder, driven by that many client threads (one keep-alive httpx connection each); the Engine
side runs the same sales from the same number of threads sharing one Engine over its own
SQLite log. The two take turns, the order rotated every round (`_common.interleaved`); each
cell is the median of the rounds with the range, and p50/p99 are the latency of a whole sale
over all rounds. The clients run on the same machine as the server: on a small host they take
part of its CPU, so the service figure is a floor. Everything is written into a temporary folder
removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _common import Rates, interleaved, ratio_cell, scratch, table

from suitability import Client, Engine, Registry, SQLiteStore, load_catalog
from suitability.service.keys import add_key

ROOT = Path(__file__).resolve().parent.parent
ANSWERS: dict[str, Any] = json.loads((ROOT / "examples" / "answers.json").read_text())["answers"]
CLIENT: dict[str, Any] = json.loads((ROOT / "examples" / "client.json").read_text())
PRODUCT = "FUND-EQ-01"  # R4 for the example client (C3, aged 68): requires confirmation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_threads(clients: int, sales: int, sale: Callable[[int, Any], None], make: Callable[[], Any]) -> list[float]:
    """Run ``sales`` sales from ``clients`` threads; return each sale's latency in seconds."""
    counter = iter(range(sales))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[BaseException] = []

    def worker() -> None:
        local = make()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                sale(i, local)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
        except BaseException as exc:
            failures.append(exc)
        finally:
            if hasattr(local, "close"):
                local.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return latencies


def _level(
    clients: int,
    sales_arg: int,
    rounds: int,
    folder: Path,
    keys: Path,
    auth: dict[str, str],
    registry: Registry,
    product: Any,
    run_id: str,
) -> list[str]:
    """One row: the service and the Engine at ``clients`` concurrent clients."""
    sales = max(sales_arg, 2 * clients)
    port = _free_port()
    log = folder / f"serve-{clients}.sqlite3"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suitability",
            "serve",
            "--log",
            str(log),
            "--keys",
            str(keys),
            "--port",
            str(port),
            "--catalog",
            str(ROOT / "examples" / "catalog.csv"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        store = SQLiteStore(folder / f"engine-{clients}.sqlite3")
        engine = Engine(registry, store)
        service_latency: list[float] = []
        engine_latency: list[float] = []
        batch = {"n": 0}

        def http_sale(i: int, http: httpx.Client, clients: int = clients) -> None:
            cid = f"S-{run_id}-{clients}-{batch['n']}-{i}"
            client = {**CLIENT, "client_id": cid}
            r = http.post(
                "/v1/assessments",
                json={"questionnaire": "cn-securities-individual", "answers": ANSWERS, "client": client},
            )
            assert r.status_code == 201, r.text
            r = http.post(
                "/v1/decisions",
                json={
                    "assessment_id": r.json()["id"],
                    "client": client,
                    "product_id": PRODUCT,
                    "initiated_by": "client",
                },
            )
            assert r.status_code == 201, r.text
            d = r.json()
            r = http.post(
                "/v1/confirmations",
                json={
                    "decision_id": d["id"],
                    "acknowledgement": "我已知晓风险，坚持购买",
                    "channel": "app",
                    "shown_warnings": d["warnings"],
                },
            )
            assert r.status_code == 201, r.text

        def engine_sale(i: int, _: object, clients: int = clients, engine: Engine = engine) -> None:
            client = Client.model_validate({**CLIENT, "client_id": f"E-{run_id}-{clients}-{batch['n']}-{i}"})
            a = engine.assess("cn-securities-individual", ANSWERS, client)
            d = engine.decide(a, product, client, "cn-csrc", "client")
            engine.confirm(d, "我已知晓风险，坚持购买", "bench-01", "app", shown_warnings=d.warnings)

        def service_side(clients: int = clients, sales: int = sales) -> int:
            batch["n"] += 1
            service_latency.extend(
                _run_threads(clients, sales, http_sale, lambda: httpx.Client(base_url=url, headers=auth, timeout=60))
            )
            return sales

        def engine_side(clients: int = clients, sales: int = sales) -> int:
            batch["n"] += 1
            engine_latency.extend(_run_threads(clients, sales, engine_sale, lambda: None))
            return sales

        rates: dict[str, Rates] = interleaved({"service": service_side, "engine": engine_side}, rounds)
        store.close()
    finally:
        server.terminate()
        server.wait(30)

    def pct(values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return f"{statistics.median(ordered) * 1000:.1f} / {p99 * 1000:.1f} ms"

    return [
        str(clients),
        rates["service"].cell(),
        rates["engine"].cell(),
        ratio_cell(rates["service"], rates["engine"]),
        pct(service_latency),
        pct(engine_latency),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sales", type=int, default=200, help="sales per side per round (at least 2 per client)")
    parser.add_argument("--concurrency", default="1,8,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    registry = Registry.default()
    product = {p.id: p for p in load_catalog(ROOT / "examples" / "catalog.csv")}[PRODUCT]
    rows = [
        ["clients", "service sales/s", "Engine sales/s", "service ÷ Engine", "service p50 / p99", "Engine p50 / p99"]
    ]
    run_id = f"{os.getpid()}-{int(time.time())}"
    with scratch("bench-serve-") as folder:
        keys = folder / "keys.json"
        _, key = add_key(keys, "bench-01", "sales")
        auth = {"Authorization": f"Bearer {key}"}
        for clients in levels:
            rows.append(_level(clients, args.sales, args.rounds, folder, keys, auth, registry, product, run_id))
            print(f"{clients} clients done", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
