"""Start-up benchmark: whole processes, timed from the moment they are spawned.

- **First screen**: ``peering-tui`` with nothing configured (no ``PEERING_*``, no AWS
  variables, an empty home) in a pseudo-terminal, as an operator's SSH session runs it. It
  starts the sandbox and seeds it; the clock stops when the first ``pcx-`` id is written to
  the terminal, then ``q`` quits it (the time to exit is recorded too).
- **``ls --json`` at N peerings**: the command run against a seeded fleet (:mod:`.fleet`,
  another process) through a relay in this process that notes when the first byte of the
  first request arrives (:class:`~tests.aws_link.AwsLink`, no delay): "starts doing work".
  The whole run's time is recorded beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

from ..aws_link import AwsLink
from . import text_table
from .fleet import FleetServer

SIZE = (120, 40)  # columns, rows
FIRST_ROW = b"pcx-"
HEADER = b"peering-tui"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("peering-tui")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from peering_core.cli import main; raise SystemExit(main())"]


def _bare_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An operator's environment with nothing configured: no PEERING_*, no AWS variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PEERING_", "AWS_")) and k not in ("HOME", "XDG_CONFIG_HOME")
    }
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "TERM": "xterm-256color",
        "PEERING_AUDIT_LOG": str(home / "audit.jsonl"),
    }
    return env | (extra or {})


def first_screen_once(timeout: float = 60.0) -> dict[str, float]:
    """One ``peering-tui`` in a pseudo-terminal: seconds to the header, to the first peering
    row, and from ``q`` to the process's exit."""
    columns, rows = SIZE
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    with tempfile.TemporaryDirectory(prefix="peering-bench-home-") as home:
        began = time.perf_counter()
        process = subprocess.Popen(
            _command(), stdin=slave, stdout=slave, stderr=slave,
            env=_bare_environment(Path(home)), start_new_session=True, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        seen = b""
        marks: dict[str, float] = {}
        try:
            while "first_row_s" not in marks:
                left = timeout - (time.perf_counter() - began)
                if left <= 0 or process.poll() is not None:
                    raise RuntimeError(f"no peering row within {timeout:.0f} s: {seen[-400:]!r}")
                ready, _, _ = select.select([master], [], [], left)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                now = time.perf_counter() - began
                # Keep a tail: a marker may straddle two reads.
                seen = seen[-64:] + chunk
                if HEADER in seen:
                    marks.setdefault("header_s", now)
                if FIRST_ROW in seen:
                    marks["first_row_s"] = now
            quit_at = time.perf_counter()
            os.write(master, b"q")
            _drain_until_exit(master, process, 30.0)
            marks["quit_s"] = time.perf_counter() - quit_at
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            os.close(master)
    return {k: round(v, 3) for k, v in marks.items()}


def _drain_until_exit(master: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Read the terminal (a full pty would block the child) until the process exits."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            with contextlib.suppress(OSError):
                os.read(master, 65536)
    process.wait(timeout=max(0.1, deadline - time.monotonic()))


async def _ls_once(server: FleetServer) -> dict[str, float]:
    async with AwsLink(server.platform_url) as platform, AwsLink(server.moto_url) as aws:
        env = server.environment() | {
            "PEERING_PLATFORM_URL": platform.url,
            "AWS_ENDPOINT_URL": aws.url,
        }
        with tempfile.TemporaryDirectory(prefix="peering-bench-home-") as home:
            began = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                *_command(), "ls", "--json",
                env=_bare_environment(Path(home), env),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await process.communicate()
            ended = time.perf_counter()
    if process.returncode != 0:
        raise RuntimeError(f"ls --json exited {process.returncode}: {err.decode()[-400:]}")
    firsts = [t for t in (platform.first_request_at, aws.first_request_at) if t is not None]
    return {
        "first_request_s": round(min(firsts) - began, 3),
        "first_aws_request_s": round((aws.first_request_at or ended) - began, 3),
        "total_s": round(ended - began, 3),
        "bytes": len(out),
    }


def run_startup(
    *, screen_runs: int = 3, ls_runs: int = 5, ls_deployments: int = 40
) -> dict[str, Any]:
    """Both measurements, each repeated; medians and worsts."""
    screens = [first_screen_once() for _ in range(screen_runs)]
    with FleetServer.start(ls_deployments, 5) as server:
        ls_runs_ = [asyncio.run(_ls_once(server)) for _ in range(ls_runs + 1)][1:]
        peerings = server.fleet.peerings
    return {
        "first_screen": {"runs": screens, **_summary(screens)},
        "ls": {"peerings": peerings, "runs": ls_runs_, **_summary(ls_runs_)},
    }


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k.endswith("_s")]
    return {
        "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
        "worst": {k: max(r[k] for r in runs) for k in keys},
    }


def startup_table(r: dict[str, Any]) -> str:
    screen, ls = r["first_screen"], r["ls"]
    rows = [
        ("whole process, from spawn", "median", "worst", "target"),
        (
            "peering-tui, nothing configured: first peering row",
            f"{screen['median']['first_row_s']:.2f} s",
            f"{screen['worst']['first_row_s']:.2f} s",
            "< 3 s",
        ),
        (
            "  header drawn",
            f"{screen['median']['header_s']:.2f} s",
            f"{screen['worst']['header_s']:.2f} s",
            "",
        ),
        (
            "  q to exit",
            f"{screen['median']['quit_s']:.2f} s",
            f"{screen['worst']['quit_s']:.2f} s",
            "",
        ),
        (
            f"ls --json, {ls['peerings']} peerings: first request",
            f"{ls['median']['first_request_s']:.2f} s",
            f"{ls['worst']['first_request_s']:.2f} s",
            "< 0.4 s",
        ),
        (
            "  first AWS request",
            f"{ls['median']['first_aws_request_s']:.2f} s",
            f"{ls['worst']['first_aws_request_s']:.2f} s",
            "",
        ),
        ("  whole run", f"{ls['median']['total_s']:.2f} s", f"{ls['worst']['total_s']:.2f} s", ""),
    ]
    return text_table(
        "start-up (whole processes)",
        rows,
        f"{len(screen['runs'])} dashboard runs in a {SIZE[0]}x{SIZE[1]} pseudo-terminal; "
        f"{len(ls['runs'])} ls runs (after one warm-up)",
    )
