"""Sales per second over HTTP (`suitability serve`) beside the in-process Engine, at 1, 8 and 64 clients.

Run: python benchmarks/bench_serve.py [--rounds 3] [--sales 200] [--concurrency 1,8,64]

A sale is what a sales app does: assess, decide (a product that requires confirmation) and
confirm: three calls, three records (plus the documents' artifacts, once per log). The service
side runs `suitability serve` in its own process on 127.0.0.1 over a SQLite log in a temporary
folder; the Engine side runs the same sales from the same number of threads sharing one Engine
over its own SQLite log. The two take turns, the order rotated every round
(`_common.interleaved`); each cell is the median of the rounds with the range, and p50/p99 are
the latency of a whole sale over all rounds.

The clients. On a small host the clients run on the same cores as the server, so what they cost
is taken from the service: a heavy client makes the service look slow. They are therefore one
Node.js process (`serve_load.mjs`, node:http only, no package) holding one keep-alive connection
per concurrent client and driving all of them from its event loop, as the sales apps of a bank
(Java, mobile, CRM) would call the service: each client does its sales one after another, each
sale three POSTs, the next one sent when the previous answer came. (It replaced one Python
thread per client with httpx, which took about as much CPU per sale as the server itself.)

Besides the rates, the table gives the CPU time per sale (user + system, from /proc) of the
server process, of the Node.js client process, and of the Engine side (this process, all its
threads, during the Engine's rounds): on a shared host these vary less than the rates.
Everything is written into a temporary folder removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

import httpx  # only to wait for the server to come up
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


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live children (serve --workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return own + sum(_cpu(k) for k in kids if Path(f"/proc/{k}").exists())


def _node() -> str:
    found = shutil.which("node")
    if found is None:
        raise SystemExit(
            "bench_serve.py drives the service from Node.js: install it (.ci/run does: apt-get install nodejs)"
        )
    return found


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
    key: str,
    registry: Registry,
    product: Any,
    run_id: str,
    workers: int,
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
            *(["--workers", str(workers)] if workers > 1 else []),
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
        cpu = dict.fromkeys(("server", "client", "engine", "service sales", "engine sales"), 0.0)
        setup = folder / "load-setup.json"
        setup.write_text(
            json.dumps(
                {
                    "questionnaire": "cn-securities-individual",
                    "answers": ANSWERS,
                    "client": CLIENT,
                    "product_id": PRODUCT,
                }
            )
        )
        load = subprocess.Popen(
            [_node(), str(Path(__file__).resolve().parent / "serve_load.mjs"), url, key, str(setup)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

        def engine_sale(i: int, _: object, clients: int = clients, engine: Engine = engine) -> None:
            client = Client.model_validate({**CLIENT, "client_id": f"E-{run_id}-{clients}-{batch['n']}-{i}"})
            a = engine.assess("cn-securities-individual", ANSWERS, client)
            d = engine.decide(a, product, client, "cn-csrc", "client")
            engine.confirm(d, "我已知晓风险，坚持购买", "bench-01", "app", shown_warnings=d.warnings)

        def service_side(clients: int = clients, sales: int = sales) -> int:
            batch["n"] += 1
            before = _cpu(server.pid), _cpu(load.pid)
            assert load.stdin is not None and load.stdout is not None
            load.stdin.write(
                json.dumps({"clients": clients, "sales": sales, "prefix": f"S-{run_id}-{clients}-{batch['n']}"}) + "\n"
            )
            load.stdin.flush()
            done = json.loads(load.stdout.readline() or '{"error": "the load generator exited"}')
            if "error" in done:
                raise SystemExit(f"serve_load.mjs: {done['error']}")
            cpu["server"] += _cpu(server.pid) - before[0]
            cpu["client"] += _cpu(load.pid) - before[1]
            cpu["service sales"] += sales
            service_latency.extend(done["latencies"])
            return sales

        def engine_side(clients: int = clients, sales: int = sales) -> int:
            batch["n"] += 1
            before = time.process_time()
            engine_latency.extend(_run_threads(clients, sales, engine_sale, lambda: None))
            cpu["engine"] += time.process_time() - before
            cpu["engine sales"] += sales
            return sales

        try:
            rates: dict[str, Rates] = interleaved({"service": service_side, "engine": engine_side}, rounds)
        finally:
            assert load.stdin is not None
            load.stdin.close()
            load.wait(30)
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
        f"{cpu['server'] / cpu['service sales'] * 1000:.1f} / {cpu['client'] / cpu['service sales'] * 1000:.1f}"
        f" / {cpu['engine'] / cpu['engine sales'] * 1000:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sales", type=int, default=200, help="sales per side per round (at least 2 per client)")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers: server processes")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    registry = Registry.default()
    product = {p.id: p for p in load_catalog(ROOT / "examples" / "catalog.csv")}[PRODUCT]
    rows = [
        [
            "clients",
            "service sales/s",
            "Engine sales/s",
            "service ÷ Engine",
            "service p50 / p99",
            "Engine p50 / p99",
            "CPU ms per sale: server / client / Engine",
        ]
    ]
    run_id = f"{os.getpid()}-{int(time.time())}"
    with scratch("bench-serve-") as folder:
        keys = folder / "keys.json"
        _, key = add_key(keys, "bench-01", "sales")
        for clients in levels:
            rows.append(
                _level(clients, args.sales, args.rounds, folder, keys, key, registry, product, run_id, args.workers)
            )
            print(f"{clients} clients done", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
