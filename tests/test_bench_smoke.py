"""The benchmark still runs: ``python -m tests.bench --quick`` end to end, no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def quick_bench(tmp_path: Path, *parts: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """``python -m tests.bench --quick --only PART…``: what it printed, and its JSON. The parts
    run in two tests (each a process of its own), so two workers share the work."""
    out = tmp_path / "nested" / "bench.json"
    only = [arg for part in parts for arg in ("--only", part)]
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--quick", *only, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["quick"] is True
    assert set(results) == {"quick", *parts}
    return done, results


@pytest.mark.heavy
def test_the_quick_benchmark_writes_its_figures_and_304s_carry_no_body(tmp_path):
    done, results = quick_bench(tmp_path, "platform", "startup")
    assert "If-None-Match (304)" in done.stdout
    assert "p99 latency" in done.stdout

    result = results["platform"]
    assert {
        "benchmark",
        "endpoint",
        "peerings",
        "requests_each",
        "records_note",
        "response_bytes",
        "full",
        "not_modified",
        "ratio_p50_full_over_304",
        "ratio_p99_full_over_304",
        "peak_rss_mib",
    } <= result.keys()
    assert result["quick"] is True
    assert (result["peerings"], result["requests_each"]) == (50, 20)
    assert result["records_returned"] == 50
    for part in ("full", "not_modified"):
        assert {"p50_ms", "p99_ms", "mean_ms", "status_counts"} <= result[part].keys()
        assert 0 < result[part]["p50_ms"] <= result[part]["p99_ms"]
    assert result["full"]["status_counts"] == {"200": 20}
    assert result["full"]["body_bytes"] == result["response_bytes"] > 0
    assert result["not_modified"]["status_counts"] == {"304": 20}
    assert result["not_modified"]["body_bytes_max"] == 0
    assert result["peak_rss_mib"] > 0

    # Whole processes: `peering-tui` with nothing configured drew peering rows (from the
    # sandbox it started) and quit on q; `ls --json` asked the platform before AWS.
    startup = results["startup"]
    assert "peering-tui, nothing configured: first peering row" in done.stdout
    (screen,) = startup["first_screen"]["runs"]
    assert 0 < screen["header_s"] <= screen["first_row_s"] and screen["quit_s"] > 0
    assert startup["ls"]["peerings"] == 40 and len(startup["ls"]["runs"]) == 2
    for run in startup["ls"]["runs"]:
        assert 0 < run["first_request_s"] <= run["first_aws_request_s"] <= run["total_s"]


@pytest.mark.heavy
def test_the_quick_refresh_and_dashboard_benchmarks_count_calls_and_changed_rows(tmp_path):
    done, results = quick_bench(tmp_path, "refresh", "dashboard")
    refresh = results["refresh"]
    assert "floor: same raw calls" in done.stdout
    assert refresh["peerings"] == 10
    assert refresh["peering_tui"]["rows"] == 10
    # Ours makes exactly the floor's calls; the hand-made script makes two per peering.
    assert refresh["peering_tui"]["calls"] == refresh["floor"]["calls"]
    assert refresh["by_hand_boto3"]["calls"] == 20
    # The same fleet over two accounts: the same rows, each account's describes once more.
    two = refresh["peering_tui_two_accounts"]
    assert two["rows"] == refresh["peering_tui"]["rows"]
    assert two["calls"] - 4 == 2 * (refresh["peering_tui"]["calls"] - 4)
    assert "two accounts" in done.stdout
    for approach in ("by_hand_boto3", "aws_cli"):
        assert refresh[approach]["sample"] > 0
    # Again through delay lines: every one of the script's sequential requests pays the round
    # trip (a lower bound the delay line guarantees, whatever the machine's speed).
    (wan,) = refresh["with_round_trips"]
    assert wan["rtt_ms"] == 10 and wan["by_hand_sample"] == 5
    assert wan["by_hand_s"] >= refresh["by_hand_boto3"]["calls"] * 0.010
    assert "through delay lines" in done.stdout
    # The path check, a whole peering-tui process: the fleet's first client reaches its broker.
    assert "peering-tui path, one pcx, whole process" in done.stdout
    assert (refresh["path"]["reachable"], refresh["path"]["hops"]) == (True, 8)
    assert wan["path_s"] > 0

    # The dashboard, driven with Pilot in a process of its own against the same kind of fleet.
    dashboard = results["dashboard"]
    assert "first screen after the data arrives" in done.stdout
    assert dashboard["rows"] == dashboard["first_screen"]["rows"] == 10
    assert dashboard["poll_calls"] == refresh["peering_tui"]["calls"]
    # A tick that changes nothing updates no cell and adds no row...
    quiet = dashboard["tick_unchanged"]
    assert (quiet["cells_updated"], quiet["rows_added"]) == (0, 0)
    # ...and one that breaks five customer routes changes exactly those five rows (mark, health).
    busy = dashboard["tick_changed"]
    assert busy["rows_changed"] == 5
    assert busy["health_of_changed_rows"] == {"error": 5}
    assert (busy["cells_updated"], busy["rows_added"]) == (10, 0)
    assert dashboard["navigation"]["samples"] > 0 and dashboard["filter"]["samples"] > 0
    assert dashboard["filter"]["rows_after_clearing"] == 10
    assert dashboard["diff_view"]["rediffs"] == 1
    assert dashboard["platform_server_loaded"] is False
    assert dashboard["peak_rss_mib"] > 0


def test_the_benchmark_refuses_nonsense_sizes():
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--requests", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--requests must be at least 1" in done.stderr
