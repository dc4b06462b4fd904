"""Errors as notifications, never as a crash.

Workers catch what they expect (the library's :class:`~peering_core.errors.PeeringError`, and
``OSError``) and say it in context; anything else ends the worker (``exit_on_error=False``)
and lands here.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from peering_core.errors import PeeringError


def describe_error(exc: BaseException) -> str:
    """An error as one line for a notification."""
    if isinstance(exc, PeeringError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def report_failed_worker(node: App[Any] | Widget, event: Worker.StateChanged) -> None:
    """Notify when a worker of ``node`` died of an error nobody expected."""
    if event.state is WorkerState.ERROR and event.worker.error is not None:
        what = event.worker.name or "background work"
        node.notify(
            f"{what} failed: {describe_error(event.worker.error)}", severity="error", timeout=15
        )
