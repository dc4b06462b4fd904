"""Polling on a thread of its own, so a big tick never stalls the keyboard.

One poll of 5,000 peerings parses ~30 MB of EC2 XML; botocore does that synchronously, in
chunks of up to a second, on whichever event loop awaits it. On the app's loop that would
freeze key presses for as long. Here the :class:`~peering_core.poller.StatusPoller` runs on
an event loop in a daemon thread with clients of its own; the UI thread only receives
finished snapshots (``post_message`` is thread-safe) and the interpreter's thread switching
(every few milliseconds) keeps keys flowing while the poll parses.

The controls (:meth:`refresh`, :meth:`pause`, :meth:`resume`) are called from the UI thread
and handed to the poll loop with ``call_soon_threadsafe``.

The garbage collector is kept off the keyboard's path too. A 5,000-peering snapshot is about a
million objects; CPython's full collection walks every tracked object (half a second here,
holding the interpreter lock) whenever enough new ones have piled up, and it lands on
whatever key the operator presses next. A snapshot is acyclic (frozen models, tuples,
strings), freed by reference counting when the next one replaces it, so each is frozen out of
the collector's sight as soon as it is built; every ``GC_FULL_EVERY`` ticks everything is
unfrozen and collected once, so a stray cycle cannot pile up.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from datetime import datetime

from peering_core.accounts import Accounts
from peering_core.platform_client import PlatformClient
from peering_core.poller import Fleet, StatusPoller
from peering_core.snapshot import Snapshot

from .failures import describe_error

Clients = Callable[[], tuple[PlatformClient, Accounts]]

# Seconds the poll thread holds a disposed tick before letting go of it.
DISPOSE_AFTER = 0.5
# Ticks between full garbage collections: about every 8 minutes at the default 5 s.
GC_FULL_EVERY = 100


def _drop(garbage: object) -> None:
    """Called on the poll thread; returning drops the last reference to ``garbage``."""


class PollThread:
    """A :class:`StatusPoller` on its own thread and loop, with clients of its own."""

    def __init__(
        self,
        clients: Clients,
        *,
        interval: float,
        clock: Callable[[], datetime],
        deliver: Callable[[Snapshot], object],
        failed: Callable[[str], object],
    ) -> None:
        """``deliver`` runs on the poll thread with each snapshot: it may do the work of
        preparing it for the screen there, then hand it over (``post_message``)."""
        self.clients = clients
        self.interval = interval
        self.clock = clock
        self.deliver = deliver
        self.failed = failed
        self.paused = False
        self.ticks = 0
        self._poller: StatusPoller | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peering-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=10)

    # --- controls, from the UI thread --------------------------------------------------

    def refresh(self) -> None:
        """Poll now, even while paused or backing off."""
        self._call(lambda poller: poller.refresh())

    def pause(self) -> None:
        self.paused = True
        self._call(lambda poller: poller.pause())

    def resume(self) -> None:
        self.paused = False
        self._call(lambda poller: poller.resume())

    def _call(self, action: Callable[[StatusPoller], None]) -> None:
        poller, loop = self._poller, self._loop
        if poller is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(action, poller)

    def dispose(self, garbage: object) -> None:
        """Free ``garbage`` on the poll thread: the caller hands over its last reference.

        Dropped a moment later, so the caller's own frame has surely let go of it first.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.call_later, DISPOSE_AFTER, _drop, garbage)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the poll, close the clients, end the thread (blocking: call off the loop)."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the poll loop, on its thread --------------------------------------------------

    def _settle_garbage(self) -> None:
        self.ticks += 1
        if self.ticks % GC_FULL_EVERY == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        platform, accounts = self.clients()
        poller = StatusPoller(Fleet(platform, accounts, clock=self.clock), interval=self.interval)
        self._poller = poller
        if self.paused:  # paused before the poller existed (a pause after is handed over)
            poller.pause()
        self._started.set()
        try:
            while True:
                try:
                    async for snapshot in poller:
                        self._settle_garbage()
                        self.deliver(snapshot)
                except Exception as exc:  # the poll loop must outlive any one bad tick
                    self.failed(describe_error(exc))
                    poller.failures += 1
                    await asyncio.sleep(poller.next_delay())
        except asyncio.CancelledError:
            pass
        finally:
            self._poller = None
            await platform.close()
            await accounts.close()
