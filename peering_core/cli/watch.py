"""``peering-tui watch``: the fleet's state changes as a stream, for alerting and paging.

Polls with the dashboard's batched refresh (:class:`~peering_core.poller.Fleet`), compares
each snapshot with the last (:func:`~peering_core.changes.fleet_changes`) and prints one line
per change: JSON with ``--json``, else words. A source going away is an event too, and the
watch carries on. SIGINT and SIGTERM end it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys

from ..changes import ChangeKind, FleetChange, fleet_changes
from ..config import Connection, connected, refresh_interval
from ..errors import ExitCode, InvalidInput
from ..poller import Fleet, StatusPoller
from ..snapshot import Snapshot
from .output import Output

# Seconds an --exec command may run for one event before it is stopped.
EXEC_TIMEOUT = 30.0
# Never handed to an --exec command: a paging hook has no use for the platform's secret.
HIDDEN_FROM_HOOKS = ("PEERING_PLATFORM_SECRET",)


def hook_command(value: str | None) -> list[str] | None:
    """``--exec CMD`` split like a shell would (it is not run by one); refused if the program
    is not found."""
    if value is None:
        return None
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise InvalidInput("INVALID_ARGUMENT", f"--exec: {exc}") from None
    if not argv or shutil.which(argv[0]) is None:
        raise InvalidInput(
            "INVALID_ARGUMENT", f"--exec: {argv[0] if argv else 'an empty command'} not found"
        )
    return argv


class Watch:
    """Prints each change and hands it to the ``--exec`` command, one at a time, in order."""

    def __init__(self, *, as_json: bool, initial: bool, hook: list[str] | None) -> None:
        self.as_json = as_json
        self.initial = initial
        self.hook = hook
        self.previous: Snapshot | None = None

    async def observe(self, snapshot: Snapshot) -> None:
        first = self.previous is None
        for change in fleet_changes(self.previous, snapshot):
            if first and change.kind is ChangeKind.APPEARED and not self.initial:
                continue
            await self.emit(change)
        self.previous = snapshot

    async def emit(self, change: FleetChange) -> None:
        line = json.dumps(change.to_json(), default=str)
        print(line if self.as_json else change.to_text(), flush=True)
        if self.hook is not None:
            await self.run_hook(change, line)

    async def run_hook(self, change: FleetChange, line: str) -> None:
        """The event's JSON line on the command's standard input; its output goes to ours
        on standard error, so it never mixes with the event stream."""
        env = {k: v for k, v in os.environ.items() if k not in HIDDEN_FROM_HOOKS}
        env |= {
            "PEERING_EVENT": change.kind.value,
            "PEERING_PEERING_ID": change.peering_id or "",
            "PEERING_DEPLOYMENT_ID": change.deployment_id or "",
            "PEERING_SOURCE": change.source or "",
        }
        assert self.hook is not None
        process = await asyncio.create_subprocess_exec(
            *self.hook,
            stdin=asyncio.subprocess.PIPE,
            stdout=sys.stderr.fileno(),
            env=env,
        )
        try:
            async with asyncio.timeout(EXEC_TIMEOUT):
                await process.communicate((line + "\n").encode())
        except TimeoutError:
            process.kill()
            await process.wait()
            _warn(f"--exec ran over {EXEC_TIMEOUT:.0f}s for {change.kind.value}; stopped it")
            return
        finally:
            if process.returncode is None:  # cancelled: the watch is stopping
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
        if process.returncode != 0:
            _warn(f"--exec exited {process.returncode} for {change.kind.value}")


def _warn(message: str) -> None:
    print(f"peering-tui watch: {message}", file=sys.stderr, flush=True)


async def _follow(poller: StatusPoller, watch: Watch) -> None:
    """Every snapshot into ``watch``; a tick that breaks is said and the next one tried."""
    while True:
        try:
            async for snapshot in poller:
                await watch.observe(snapshot)
        except Exception as exc:  # the watch must outlive any one bad tick
            _warn(f"a poll failed: {type(exc).__name__}: {exc}")
            poller.failures += 1
            await asyncio.sleep(poller.next_delay())


async def run_watch(args: argparse.Namespace, connection: Connection, out: Output) -> int:
    watch = Watch(as_json=args.json, initial=args.initial, hook=hook_command(args.exec))
    interval = refresh_interval(args.watch_refresh or args.refresh)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with connected(connection) as (platform, ec2):
            _warn(f"watching {connection.platform_url} every {interval:g}s; ctrl+c stops")
            following = asyncio.create_task(
                _follow(StatusPoller(Fleet(platform, ec2), interval=interval), watch)
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (following, stopping):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    return ExitCode.OK
