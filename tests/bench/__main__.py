"""``python -m tests.bench [--peerings N] [--requests R] [--json PATH] [--quick]``."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import MAX_PEERINGS, run
from .dashboard import dashboard_table, run_dashboard
from .refresh import RTTS_MS, refresh_table, run_refresh
from .replicas import replicas_table, run_replicas
from .startup import run_startup, startup_table

QUICK = {"peerings": 50, "requests": 20, "deployments": 5, "per_deployment": 2}
STRESS_DEPLOYMENTS = 2000  # at 5 peerings each: the 10,000-peering stress run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Time GET /api/v1/peerings on a sandbox platform: full body vs 304.",
    )
    parser.add_argument("--peerings", type=int, default=5000, help="records to load (5000)")
    parser.add_argument("--requests", type=int, default=200, help="timed GETs of each kind (200)")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results/bench.json"),
        help="where to write the results (bench-results/bench.json)",
    )
    parser.add_argument(
        "--fleet",
        type=int,
        default=1000,
        metavar="DEPLOYMENTS",
        help="deployments in the refresh benchmark, 5 peerings each (1000)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=("platform", "refresh", "dashboard", "stress", "replicas", "startup"),
        help="run this benchmark (again for more than one; default: all)",
    )
    parser.add_argument(
        "--stress",
        type=int,
        default=STRESS_DEPLOYMENTS,
        metavar="DEPLOYMENTS",
        help="deployments in the stress run (refresh and dashboard), 5 peerings each (2000)",
    )
    parser.add_argument(
        "--replica-peerings",
        type=int,
        default=1000,
        metavar="N",
        help="peerings confirmed in the replicas benchmark (1000)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 50 peerings, 20 requests (overrides --peerings/--requests)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.peerings <= MAX_PEERINGS:
        parser.error(f"--peerings must be between 0 and {MAX_PEERINGS}")
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    return args


def table(r: dict[str, Any]) -> str:
    full, cond = r["full"], r["not_modified"]
    rows = [
        ("", "full body (200)", "If-None-Match (304)", "full / 304"),
        (
            "p50 latency",
            f"{full['p50_ms']:.2f} ms",
            f"{cond['p50_ms']:.2f} ms",
            f"{r['ratio_p50_full_over_304']:.2f}x",
        ),
        (
            "p99 latency",
            f"{full['p99_ms']:.2f} ms",
            f"{cond['p99_ms']:.2f} ms",
            f"{r['ratio_p99_full_over_304']:.2f}x",
        ),
        ("mean latency", f"{full['mean_ms']:.2f} ms", f"{cond['mean_ms']:.2f} ms", ""),
        ("body size", f"{full['body_bytes']:,} B", f"{cond['body_bytes_max']:,} B", ""),
        ("statuses", _statuses(full), _statuses(cond), ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{r['endpoint']}: {r['peerings']:,} peerings over {r['deployments']} deployments, "
        f"{r['requests_each']} requests each (+{r['warmup_each']} warm-up), interleaved",
    ]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [
        f"peak RSS: {r['peak_rss_mib_after_start']} MiB after sandbox start, "
        f"{r['peak_rss_mib_before_requests']} MiB after loading, "
        f"{r['peak_rss_mib']} MiB at the end (whole process: moto + platform + client)",
        f"loaded records: {r['records_returned']:,} returned by the API",
        f"note: {r['records_note']}",
        f"wall time {r['wall_s']} s; Python {r['python']} on {r['machine']}",
    ]
    return "\n".join(lines)


def _statuses(part: dict[str, Any]) -> str:
    return ", ".join(f"{code}x{n}" for code, n in sorted(part["status_counts"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    peerings, requests = (
        (QUICK["peerings"], QUICK["requests"]) if args.quick else (args.peerings, args.requests)
    )
    results: dict[str, Any] = {"quick": args.quick}

    def wanted(part: str) -> bool:
        return args.only is None or part in args.only

    if wanted("platform"):
        result = run(peerings, requests, quick=args.quick)
        print(table(result))
        print()
        results["platform"] = result
    if wanted("refresh"):
        fleet = QUICK["deployments"] if args.quick else args.fleet
        refresh = run_refresh(
            fleet,
            QUICK["per_deployment"] if args.quick else 5,
            runs=1 if args.quick else 3,
            hand_sample=20 if args.quick else 200,
            cli_sample=1 if args.quick else 50,
            rtts_ms=(10,) if args.quick else RTTS_MS,
            rtt_hand_sample=5 if args.quick else 100,
            # The smoke run checks the path runs and what it found, not its spread.
            path_runs=1 if args.quick else 5,
        )
        print(refresh_table(refresh))
        print()
        results["refresh"] = refresh
    if wanted("dashboard"):
        fleet = QUICK["deployments"] if args.quick else args.fleet
        per = QUICK["per_deployment"] if args.quick else 5
        dashboard = run_dashboard(
            fleet, per, change_rows=5 if args.quick else 100, rounds=2 if args.quick else 3
        )
        print(dashboard_table(dashboard))
        print()
        results["dashboard"] = dashboard
    if wanted("startup"):
        startup = run_startup(
            screen_runs=1 if args.quick else 5,
            ls_runs=2 if args.quick else 10,
            ls_deployments=8 if args.quick else 40,
        )
        print(startup_table(startup))
        print()
        results["startup"] = startup
    if wanted("stress") and not args.quick:
        stress_refresh = run_refresh(
            args.stress, 5, runs=1, hand_sample=0, cli_sample=0, rtts_ms=()
        )
        print(refresh_table(stress_refresh))
        print()
        stress_dashboard = run_dashboard(args.stress, 5, change_rows=100, rounds=2)
        print(dashboard_table(stress_dashboard))
        print()
        results["stress"] = {"refresh": stress_refresh, "dashboard": stress_dashboard}
    # Four setups of moto, PostgreSQL and replica processes: not part of the quick smoke run.
    if (args.only and "replicas" in args.only) or (args.only is None and not args.quick):
        replicas = run_replicas(
            QUICK["peerings"] if args.quick else args.replica_peerings,
            pollers=50,
            each=2 if args.quick else 10,
        )
        print(replicas_table(replicas))
        print()
        results["replicas"] = replicas
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
