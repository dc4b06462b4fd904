"""What the create and delete workflows share: their named steps, the progress events they
report, their JSON result shape, and reading one platform record.

The workflows themselves are :mod:`peering_core.create` and :mod:`peering_core.delete`.
Every step first looks at what exists, so re-running after any interruption continues
where it stopped and never makes a second pcx, route or rule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .errors import Failed, PeeringError, PlatformApiError
from .models import PlatformPeering
from .platform_client import PlatformClient

T = TypeVar("T")


class Step(StrEnum):
    VALIDATE = "validate"
    REQUEST = "request"
    CONFIRM = "confirm"
    WAIT = "wait"
    ROUTES = "routes"
    RULES = "rules"
    VERIFY = "verify"
    GUARD = "guard"
    DELETE = "delete"
    CLEANUP = "cleanup"


class Progress(BaseModel):
    """One event of a workflow, for a progress display."""

    model_config = ConfigDict(frozen=True)

    step: Step
    state: str  # "started", "done", "skipped"
    message: str


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


class Reporter:
    """Sends a workflow's progress events to the caller's callback (if any)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback

    async def emit(self, step: Step, state: str, message: str) -> None:
        if self.callback is None:
            return
        result = self.callback(Progress(step=step, state=state, message=message))
        if result is not None:
            await result

    async def started(self, step: Step, message: str) -> None:
        await self.emit(step, "started", message)

    async def done(self, step: Step, message: str) -> None:
        await self.emit(step, "done", message)

    async def skipped(self, step: Step, message: str) -> None:
        await self.emit(step, "skipped", message)


@contextlib.contextmanager
def at_step(step: Step) -> Iterator[None]:
    """An error escaping ``step`` says so, whichever call raised it (the command line prints
    "during STEP", the dashboard marks that step)."""
    try:
        yield
    except PeeringError as exc:
        if not exc.step:
            exc.step = step
        raise


class ResultModel(BaseModel):
    """A workflow's outcome; camelCase in JSON like the platform API."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


async def platform_record(
    platform: PlatformClient, deployment_id: str, peering_id: str, *, step: Step
) -> PlatformPeering | None:
    """The platform's record of a peering, or ``None`` when it has none."""
    try:
        return await platform.peering(deployment_id, peering_id)
    except PlatformApiError as exc:
        if exc.status == 404:
            return None
        raise Failed(exc.code, exc.message, step=step) from None


async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    interval: float,
    timed_out: Failed,
) -> T:
    """Ask ``check`` every ``interval`` seconds until it answers (or raises); ``timed_out``
    when ``within`` seconds pass first."""
    try:
        async with asyncio.timeout(within):
            while True:
                answer = await check()
                if answer is not None:
                    return answer
                await asyncio.sleep(interval)
    except TimeoutError:
        raise timed_out from None
