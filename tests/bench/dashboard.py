"""Dashboard benchmark: the Textual app at fleet scale, driven with Pilot.

moto and the platform serve a seeded fleet from a process of their own (:mod:`.fleet`); the
dashboard runs in another, configured through the environment as an operator's would be, so
its peak RSS is the dashboard's alone. It polls the real servers over HTTP and measures, from
the moment a snapshot reaches the app to the moment the frame is rendered:

- the first screen (5,000 rows into an empty dashboard);
- a tick that changes nothing (cells updated, bytes written to the terminal);
- a tick that changes N rows (the fleet's process deletes N customer routes in moto between
  ticks, so N peerings show drift);
- key navigation (down, page down/up, home/end) and the filter (typing, erasing, esc), one
  sample per key, p50/p95/max;
- the diff view of one peering, opened and re-diffed (the screens' own EC2 clients);
- key navigation while a refresh is in flight (the poll runs on a thread of its own).

"Rendered" means what a real terminal run does minus the write itself: messages processed,
layout and compositor update, and the frame encoded to the escape sequences a terminal would
receive (``_display`` is overridden to encode instead of skipping, as headless mode does).
Pilot's ``press`` waits for CPU idle (20 ms sleeps) after every key, so the benchmark posts
key events itself and waits only for the screen's messages to be processed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.console import RenderableType
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.screen import Screen

import tui.app
from peering_core.config import load_connection
from peering_core.snapshot import Snapshot
from tui.app import PeeringApp
from tui.messages import SnapshotArrived
from tui.screens.diff import PeeringDiffScreen

from . import peak_rss_mib, percentile, rss_now_mib, text_table

if TYPE_CHECKING:
    from .fleet import FleetServer

# A poll of 10,000 peerings takes ~30 s on a 2-core machine; nothing here should take 10 min.
WAIT = 600
SIZE = (160, 48)  # a large SSH terminal: ~38 peering rows visible
NAVIGATION = ["down"] * 60 + ["pagedown"] * 10 + ["end", "home"] + ["pageup"] * 5 + ["up"] * 20
# Typed one key at a time, then erased; "bench-42" narrows 5,000 rows to 55.
FILTERS = ("bench-42", "eu-west", "warning")


# --- the child: the dashboard ---------------------------------------------------------


class BenchApp(PeeringApp):
    """The real app, plus a clock on snapshot arrival and frames encoded as a terminal's."""

    # Relative CSS paths resolve against the subclass's module; these are the app's own.
    CSS_PATH = [Path(tui.app.__file__).parent / name for name in PeeringApp.CSS_PATH]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived = asyncio.Event()
        self.arrived_at = 0.0
        self.frames = 0
        self.frame_bytes = 0
        self.prepared_ms: list[float] = []

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        # Textual runs every class's handler down the MRO: this one first, then the app's.
        self.arrived_at = time.perf_counter()
        self.arrived.set()

    def _deliver(self, snapshot: Snapshot) -> None:
        # On the poll thread: the rows are built there, before the snapshot "arrives".
        t0 = time.perf_counter()
        super()._deliver(snapshot)
        self.prepared_ms.append(round((time.perf_counter() - t0) * 1000, 1))

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        # Headless mode renders the update and drops it; a terminal encodes and writes it.
        if renderable is None or self._batch_count:
            return
        encode = getattr(renderable, "render_segments", None)
        if encode is not None:
            self.frames += 1
            self.frame_bytes += len(encode(self.console))


async def settle(pilot: Pilot[None]) -> None:
    """Until the screen's messages are processed and the frame is rendered and encoded."""
    for _ in range(3):  # handlers post messages of their own (RowHighlighted, …)
        await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


async def timed_key(pilot: Pilot[None], key: str) -> float:
    app = pilot.app
    assert app._driver is not None
    # One character is typed (its key name from Textual's table); a name is a named key.
    char = key if len(key) == 1 else None
    name = _character_to_key(key) if char is not None and not key.isalnum() else key
    t0 = time.perf_counter()
    app._driver.send_message(events.Key(name, char))
    await settle(pilot)
    return time.perf_counter() - t0


async def next_snapshot(app: BenchApp, pilot: Pilot[None]) -> float:
    """Poll now; seconds from the snapshot reaching the app to its frame rendered."""
    app.arrived.clear()
    assert app.poller is not None
    app.poller.refresh()
    await asyncio.wait_for(app.arrived.wait(), WAIT)
    await settle(pilot)
    return time.perf_counter() - app.arrived_at


def summary_ms(samples: Iterable[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


class Counters:
    """Table cells updated, rows added and bytes written since the last reading."""

    def __init__(self, app: BenchApp) -> None:
        self.app = app
        self.last = self.read()

    def read(self) -> tuple[int, int, int, int]:
        table = self.app.main_screen.peerings_table
        return table.cells_updated, table.rows_added, self.app.frames, self.app.frame_bytes

    def delta(self) -> dict[str, int]:
        now = self.read()
        cells, rows, frames, size = (a - b for a, b in zip(now, self.last, strict=True))
        self.last = now
        return {"cells_updated": cells, "rows_added": rows, "frames": frames, "bytes": size}


async def drive(control_in: int, control_out: int, change_rows: int, rounds: int) -> dict[str, Any]:
    def ask(line: str) -> str:
        os.write(control_out, (line + "\n").encode())
        return _read_line(control_in)

    connection = load_connection()
    assert connection is not None, "the child is configured by the environment"
    app = BenchApp(connection=connection, refresh=3600)
    result: dict[str, Any] = {"terminal": f"{SIZE[0]}x{SIZE[1]}"}
    rss_before = peak_rss_mib()
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.arrived.wait(), WAIT)
        await settle(pilot)
        first = time.perf_counter() - app.arrived_at
        snapshot = app.snapshot
        assert snapshot is not None and snapshot.ok, "the first poll must read every source"
        table = app.main_screen.peerings_table
        result["rows"] = table.row_count
        result["first_screen"] = {
            "ms": round(first * 1000, 1),
            "rows_built_on_poll_thread_ms": app.prepared_ms[-1],
            "rows": table.row_count,
            "frame_bytes": app.frame_bytes,
        }
        # The first poll also asks each account who it is; a poll's cost is the next one's.
        result["first_poll_calls"] = snapshot.calls
        result["rss_mib_after_first_screen"] = rss_now_mib()
        result["peak_rss_mib_after_first_screen"] = peak_rss_mib()
        counters = Counters(app)

        quiet = await next_snapshot(app, pilot)
        assert app.snapshot is not None
        result["poll_calls"] = app.snapshot.calls
        result["tick_unchanged"] = {
            "ms": round(quiet * 1000, 1),
            "rows_built_on_poll_thread_ms": app.prepared_ms[-1],
            **counters.delta(),
        }

        # Several ticks, each breaking routes of different peerings: a median and a worst case.
        busy_ms: list[float] = []
        for round_ in range(rounds):
            changed = set(json.loads(ask(f"change {change_rows} {round_}")))
            busy_ms.append(await next_snapshot(app, pilot))
            if round_ == 0:
                health: dict[str, int] = {}
                for v in cast("Any", app.snapshot).views:
                    if v.peering_id in changed:
                        health[v.health.value] = health.get(v.health.value, 0) + 1
                result["tick_changed"] = {
                    "rows_built_on_poll_thread_ms": app.prepared_ms[-1],
                    "rows_changed": len(changed),
                    "health_of_changed_rows": health,
                    **counters.delta(),
                }
        result["peak_rss_mib_after_ticks"] = peak_rss_mib()
        result["tick_changed"] |= {
            "ms": round(statistics.median(busy_ms) * 1000, 1),
            "ms_max": round(max(busy_ms) * 1000, 1),
            "ms_each": [round(b * 1000, 1) for b in busy_ms],
        }

        table.focus()
        await settle(pilot)
        nav = [await timed_key(pilot, key) for key in NAVIGATION]
        result["navigation"] = summary_ms(nav) | {"keys": _key_counts(NAVIGATION)}
        result["peak_rss_mib_after_navigation"] = peak_rss_mib()

        typing: list[float] = []
        erasing: list[float] = []
        matching: dict[str, int] = {}
        for query in FILTERS:
            typing.append(await timed_key(pilot, "/"))
            typing += [await timed_key(pilot, ch) for ch in query]
            matching[query] = table.row_count
            erasing += [await timed_key(pilot, "backspace") for _ in query]
            erasing.append(await timed_key(pilot, "escape"))
        result["filter"] = summary_ms(typing + erasing) | {
            "rows_matching": matching,
            "rows_after_clearing": table.row_count,
            "typing_p95_ms": round(percentile([s * 1000 for s in typing], 95), 2),
            "typing_ms_each": [round(s * 1000, 1) for s in typing],
            "erasing_p95_ms": round(percentile([s * 1000 for s in erasing], 95), 2),
        }

        result["peak_rss_mib_after_filter"] = peak_rss_mib()

        # The operator opens a peering's diff view and re-diffs it: the screens' EC2 clients
        # (the app's own, not the poll thread's) are opened as in any real session.
        opened = await timed_key(pilot, "x")
        diff_screen = app.screen
        assert isinstance(diff_screen, PeeringDiffScreen), diff_screen
        t0 = time.perf_counter()
        await diff_screen.rediff().wait()
        await settle(pilot)
        rediffed = time.perf_counter() - t0
        assert diff_screen.rediffs == 1 and diff_screen.error is None, diff_screen.error
        result["diff_view"] = {
            "open_ms": round(opened * 1000, 1),
            "rediff_ms": round(rediffed * 1000, 1),
            "rediffs": diff_screen.rediffs,
        }
        await timed_key(pilot, "escape")
        result["peak_rss_mib_after_diff_view"] = peak_rss_mib()
        # A poll in flight shares the event loop: how slow do keys get meanwhile?
        app.arrived.clear()
        assert app.poller is not None
        app.poller.refresh()
        during: list[float] = []
        while not app.arrived.is_set():
            during.append(await timed_key(pilot, "down" if len(during) % 40 < 20 else "up"))
        result["navigation_during_poll"] = summary_ms(during)
        await settle(pilot)
        result["peak_rss_mib"] = peak_rss_mib()
    result["peak_rss_mib_before_app"] = rss_before
    # What the figures are of: the dashboard as `peering-tui` runs it, without the sandbox's
    # platform server (imported only when a sandbox starts).
    result["platform_server_loaded"] = "fastapi" in sys.modules
    return result


def _key_counts(keys: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EOFError("the benchmark's parent went away")
        data += chunk
    return data.decode().strip()


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.dashboard")
    parser.add_argument("--control-in", type=int, required=True)
    parser.add_argument("--control-out", type=int, required=True)
    parser.add_argument("--change", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = asyncio.run(drive(args.control_in, args.control_out, args.change, args.rounds))
    os.write(args.control_out, ("result " + json.dumps(result) + "\n").encode())
    return 0


# --- the parent: servers, fleet, changes between ticks --------------------------------


def run_dashboard(
    deployments: int,
    per_deployment: int,
    *,
    change_rows: int = 100,
    rounds: int = 3,
    timeout: float = 1200,
) -> dict[str, Any]:
    """Seed a fleet, run the dashboard in a child process against it, collect its figures."""
    from .fleet import FleetServer  # the parent's: the child loads no more than peering-tui

    began = time.perf_counter()
    with FleetServer.start(deployments, per_deployment) as server:
        result = _run_child(server, change_rows, rounds, timeout)
    return {
        "benchmark": "dashboard",
        "deployments": deployments,
        "peerings": server.fleet.peerings,
        "seed_s": server.fleet.seconds,
        **result,
        "wall_s": round(time.perf_counter() - began, 2),
    }


def _run_child(
    server: FleetServer, change_rows: int, rounds: int, timeout: float
) -> dict[str, Any]:
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    env = os.environ | server.environment() | {"PEERING_CONFIG": os.devnull}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.dashboard", "--control-in", str(to_child_r),
         "--control-out", str(from_child_w), "--change", str(change_rows),
         "--rounds", str(rounds)],
        env=env, pass_fds=(to_child_r, from_child_w),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(to_child_r)
    os.close(from_child_w)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the dashboard benchmark took too long")
            try:
                line = _read_line(from_child_r)
            except EOFError:
                child.wait(timeout=30)
                stderr = child.stderr.read().decode() if child.stderr else ""
                raise RuntimeError(f"the dashboard child failed:\n{stderr[-4000:]}") from None
            verb, _, rest = line.partition(" ")
            if verb == "change":
                count, round_ = (int(word) for word in rest.split())
                broken = server.break_routes(count, round_)
                os.write(to_child_w, (json.dumps(broken) + "\n").encode())
            elif verb == "result":
                child.wait(timeout=60)
                return cast("dict[str, Any]", json.loads(rest))
            else:
                raise RuntimeError(f"unexpected line from the dashboard child: {line!r}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(to_child_w)
        os.close(from_child_r)


def dashboard_table(r: dict[str, Any]) -> str:
    first, quiet, busy = r["first_screen"], r["tick_unchanged"], r["tick_changed"]
    nav, flt, during = r["navigation"], r["filter"], r["navigation_during_poll"]
    diff = r["diff_view"]
    rows = [
        ("dashboard, Pilot-driven", "figure", "detail"),
        ("first screen after the data arrives", f"{first['ms']:.0f} ms",
         f"{first['rows']:,} rows, frame {first['frame_bytes']:,} B"),
        ("tick that changes nothing", f"{quiet['ms']:.1f} ms",
         f"{quiet['cells_updated']} cells updated, {quiet['rows_added']} rows added, "
         f"{quiet['bytes']:,} B to the terminal"),
        (f"tick that changes {busy['rows_changed']} rows (median)", f"{busy['ms']:.1f} ms",
         f"worst of {len(busy['ms_each'])} {busy['ms_max']:.1f} ms; "
         f"{busy['cells_updated']} cells updated; those rows now "
         + ", ".join(f"{n} {h}" for h, n in sorted(busy["health_of_changed_rows"].items()))),
        (f"key navigation p95 ({nav['samples']} keys)", f"{nav['p95_ms']:.1f} ms",
         f"p50 {nav['p50_ms']:.1f} ms, max {nav['max_ms']:.1f} ms"),
        (f"filter p95 ({flt['samples']} keys)", f"{flt['p95_ms']:.1f} ms",
         f"typing p95 {flt['typing_p95_ms']:.1f} ms, erasing p95 {flt['erasing_p95_ms']:.1f} ms; "
         + ", ".join(f"'{q}' leaves {n}" for q, n in flt["rows_matching"].items())),
        ("diff view: open / re-diff one peering", f"{diff['open_ms']:.0f} ms",
         f"re-diff {diff['rediff_ms']:.0f} ms (filtered describes of its VPC)"),
        (f"keys while a poll is in flight ({during['samples']})", f"{during['p95_ms']:.1f} ms",
         f"p50 {during['p50_ms']:.1f} ms, max {during['max_ms']:.1f} ms"),
        ("dashboard process peak RSS", f"{r['peak_rss_mib']:.0f} MiB",
         f"{r['peak_rss_mib_before_app']:.0f} MiB before the app started"),
    ]  # fmt: skip
    return text_table(
        f"dashboard with {r['peerings']:,} peerings ({r['deployments']:,} deployments), "
        f"terminal {r['terminal']}, {r['poll_calls']} API calls per poll",
        rows,
        f"(wall time {r['wall_s']} s)",
    )


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
