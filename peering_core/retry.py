"""Retrying a failed peering: the platform runs its last step again (the acceptance, or the
deletion), and the operator waits to see how it ends.

A peering fails on the platform only for a final answer (the pcx gone, rejected or expired, a
CIDR conflict), so a retry is for after the cause is removed; AWS trouble is retried by the
platform on its own and never ends in ``failed``.
"""

from __future__ import annotations

from pydantic import Field

from .errors import Failed, PlatformApiError, Refused
from .models import PlatformPeering, PlatformStatus
from .platform_client import PlatformClient
from .workflow import ResultModel, Step, platform_record, wait_for


class RetryResult(ResultModel):
    peering_id: str
    deployment_id: str = Field(alias="deploymentID")
    platform_status: str  # running, failed again, or gone (a deletion that finished)
    reason: str | None = None


async def retry_failed(
    platform: PlatformClient,
    deployment_id: str,
    peering_id: str,
    *,
    wait_timeout: float = 300.0,
    poll_interval: float = 0.5,
) -> RetryResult:
    """Ask the platform to retry ``peering_id`` and wait until it is running, gone or failed
    again; a peering that fails again is refused (exit 3) with the platform's reason."""
    try:
        record = await platform.retry_peering(deployment_id, peering_id)
    except PlatformApiError as exc:
        if exc.status in (404, 409):
            raise Refused(exc.code, exc.message, step=Step.CONFIRM) from None
        raise Failed(exc.code, exc.message, step=Step.CONFIRM) from None

    async def settled() -> tuple[PlatformPeering | None] | None:
        current = await platform_record(platform, deployment_id, peering_id, step=Step.WAIT)
        if current is None or current.status in (PlatformStatus.RUNNING, PlatformStatus.FAILED):
            return (current,)
        return None

    (final,) = await wait_for(
        settled,
        within=wait_timeout,
        interval=poll_interval,
        timed_out=Failed(
            "TIMEOUT",
            f"{peering_id} is still {record.status.value} after {wait_timeout:.0f}s; the "
            "platform keeps at it — watch it with `peering-tui ls`",
            step=Step.WAIT,
        ),
    )
    if final is not None and final.status is PlatformStatus.FAILED:
        raise Refused(
            "PEERING_FAILED",
            f"{peering_id} failed again: {final.reason}",
            step=Step.WAIT,
        )
    return RetryResult(
        peering_id=peering_id,
        deployment_id=deployment_id,
        platform_status=final.status.value if final is not None else "gone",
    )
