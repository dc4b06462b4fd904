"""Benchmarks against the real platform server on loopback (run: ``python -m tests.bench``).

This module measures; ``__main__`` parses arguments, prints the table and writes the JSON.
The dashboard benchmark's child imports this package, so the sandbox (and the platform server
behind it) is imported only where a benchmark starts one: the child's memory is then what
``peering-tui`` itself loads.
For now one benchmark: ``GET /api/v1/peerings`` (the poller's cheap all-deployments read),
full body against ``If-None-Match`` (304), over N peering records.
"""

from __future__ import annotations

import math
import platform as host
import resource
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from peering_core.platform.store import NEVER

ENDPOINT = "/api/v1/peerings"
DEPLOYMENTS = (("bench-a", "10.0.0.0/16"), ("bench-b", "10.1.0.0/16"), ("bench-c", "10.2.0.0/16"))
PEER_SPACE = 0x0A400000  # 10.64.0.0/10, split into /28s: room for 2**18 peerings
MAX_PEERINGS = 2**18
WARMUP = 5
RECORDS_NOTE = (
    "peering records are inserted straight into the platform's SQLite store; their pcx, VPC "
    "and account ids are well-formed but exist in no AWS (moto) account, and their statuses "
    "are running/failed so the platform never tries to accept or delete them"
)
RSS_NOTE = (
    "peak RSS (getrusage ru_maxrss) of the whole benchmark process: moto, the platform "
    "server thread and the HTTP client share it; moto's EC2 backend (first deployment) "
    "accounts for most of it"
)


def _status_mib(field: str) -> float | None:
    """A memory line of ``/proc/self/status`` in MiB (Linux only; ``None`` elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def rss_now_mib() -> float | None:
    """This process's resident set size now (Linux only; ``None`` elsewhere)."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """This process's peak resident set size.

    On Linux from ``VmHWM``: ``ru_maxrss`` survives ``exec``, so a child started from a big
    parent would report the parent's peak as its own.
    """
    high_water = _status_mib("VmHWM")
    if high_water is not None:
        return high_water
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return round(peak * scale / 2**20, 1)


def text_table(title: str, rows: list[tuple[str, ...]], footer: str) -> str:
    """``rows`` (the first is the header) as aligned columns, under ``title``."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(footer)
    return "\n".join(lines)


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def create_deployments(http: httpx.Client) -> list[str]:
    """Real deployments (VPCs in moto) through the API, so the records' foreign keys hold."""
    ids = []
    for name, cidr in DEPLOYMENTS:
        body = {"deploymentName": name, "region": "us-east-1", "cidr": cidr}
        response = http.post("/api/v1/deployments", json=body)
        response.raise_for_status()
        ids.append(response.json()["deploymentID"])
    return ids


def peering_rows(count: int, deployment_ids: list[str]) -> list[tuple[Any, ...]]:
    from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=count)
    rows = []
    for i in range(count):
        stamp = (start + timedelta(seconds=i)).isoformat()
        failed = i % 50 == 49
        rows.append(
            (
                f"pcx-{i:017x}",
                deployment_ids[i % len(deployment_ids)],
                CUSTOMER_ACCOUNT_ID,
                f"vpc-{i:017x}",
                f"{_ip(PEER_SPACE + 16 * i)}/28",
                "us-east-1",
                "failed" if failed else "running",
                "VPC peering connection was rejected" if failed else None,
                stamp,
                stamp,
            )
        )
    return rows


def _ip(value: int) -> str:
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def insert_peerings(db_path: str, rows: list[tuple[Any, ...]]) -> None:
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("BEGIN")
        # Their pcxs exist nowhere: the reconciler's checks are never due, or it would mark
        # them gone while the benchmark reads them (and the bodies would change under it).
        db.executemany(
            "INSERT INTO peerings (peering_id, deployment_id, account_id, vpc_id, cidr, region, "
            "status, reason, create_at, update_at, due_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(*row, NEVER) for row in rows],
        )
        db.execute("COMMIT")
    finally:
        db.close()


def measure(http: httpx.Client, requests: int) -> dict[str, Any]:
    """Alternate full and conditional GETs so both see the same machine conditions."""
    first = http.get(ENDPOINT)
    first.raise_for_status()
    etag = first.headers["etag"]
    conditional = {"If-None-Match": etag}
    for _ in range(WARMUP):
        http.get(ENDPOINT)
        http.get(ENDPOINT, headers=conditional)
    full_s: list[float] = []
    cond_s: list[float] = []
    full_status: dict[str, int] = {}
    cond_status: dict[str, int] = {}
    full_bytes: set[int] = set()
    cond_bytes_max = 0
    for _ in range(requests):
        t0 = time.perf_counter()
        response = http.get(ENDPOINT)
        full_s.append(time.perf_counter() - t0)
        full_status[str(response.status_code)] = full_status.get(str(response.status_code), 0) + 1
        full_bytes.add(len(response.content))
        t0 = time.perf_counter()
        response = http.get(ENDPOINT, headers=conditional)
        cond_s.append(time.perf_counter() - t0)
        cond_status[str(response.status_code)] = cond_status.get(str(response.status_code), 0) + 1
        cond_bytes_max = max(cond_bytes_max, len(response.content))
    full = summarize(full_s) | {"status_counts": full_status, "body_bytes": max(full_bytes)}
    cond = summarize(cond_s) | {"status_counts": cond_status, "body_bytes_max": cond_bytes_max}
    return {
        "etag": etag,
        "response_bytes": len(first.content),
        "records_returned": len(first.json()),
        "full": full,
        "not_modified": cond,
        "ratio_p50_full_over_304": round(full["p50_ms"] / cond["p50_ms"], 2),
        "ratio_p99_full_over_304": round(full["p99_ms"] / cond["p99_ms"], 2),
    }


def run(peerings: int, requests: int, *, quick: bool = False) -> dict[str, Any]:
    """Start a sandbox, load ``peerings`` records, time ``requests`` GETs of each kind."""
    if not 0 <= peerings <= MAX_PEERINGS:
        raise ValueError(f"peerings must be 0..{MAX_PEERINGS}")
    if requests < 1:
        raise ValueError("requests must be at least 1")
    from peering_core.sandbox.servers import Sandbox

    began = time.perf_counter()
    # The request budget is switched off (0): the benchmark measures the handler, not the 429s.
    sandbox = Sandbox.start(accept_delay=0, requests_per_minute=0)
    rss_started = peak_rss_mib()
    try:
        auth = httpx.BasicAuth(sandbox.key, sandbox.secret.get_secret_value())
        with httpx.Client(base_url=sandbox.platform_url, auth=auth, timeout=60) as http:
            deployment_ids = create_deployments(http)
            insert_peerings(str(sandbox.platform.db_path), peering_rows(peerings, deployment_ids))
            rss_loaded = peak_rss_mib()
            result = measure(http, requests)
    finally:
        sandbox.stop()
    return {
        "benchmark": "platform.list_peerings",
        "endpoint": f"GET {ENDPOINT}",
        "quick": quick,
        "peerings": peerings,
        "deployments": len(DEPLOYMENTS),
        "requests_each": requests,
        "warmup_each": WARMUP,
        "transport": (
            "httpx.Client over loopback HTTP/1.1 keep-alive, sequential; client and server "
            "threads share one process (and its GIL)"
        ),
        "records_note": RECORDS_NOTE,
        **result,
        "peak_rss_mib_after_start": rss_started,
        "peak_rss_mib_before_requests": rss_loaded,
        "peak_rss_mib": peak_rss_mib(),
        "rss_note": RSS_NOTE,
        "wall_s": round(time.perf_counter() - began, 2),
        "python": host.python_version(),
        "machine": f"{host.system()} {host.machine()}",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
