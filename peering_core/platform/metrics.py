"""The platform's figures for Prometheus: ``GET /metrics`` in the text format.

Each replica counts what its own process did (requests, AWS errors, background work, leases);
Prometheus scrapes every replica and adds the ``instance``. The peerings by state and tenant
are read from the database at each scrape (one grouped count), so every replica reports the
same platform-wide figure: aggregate them with ``max``, not ``sum``.

Every metric lives in a registry of the platform's own (not prometheus_client's global one),
so several platforms in one process (the sandbox, tests) keep apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.routing import BaseRoute, Match

from ..errors import AwsError
from ..models import PlatformStatus

log = logging.getLogger("peering_core.platform")

PREFIX = "peering_platform"
UNMATCHED = "unmatched"  # a path no route serves: never the raw path (scanners would blow
# the series up)
# Background work: a confirmed peering's acceptance, a deletion, the reconciler's check.
WORK_KINDS = {
    PlatformStatus.PENDING: "accept",
    PlatformStatus.DELETING: "delete",
    PlatformStatus.RUNNING: "reconcile",
}
# Acceptance waits for AWS (and retries while AWS fails): seconds to many minutes.
_WORK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]
RouteOf = Callable[[Scope], str]


class PlatformMetrics:
    """What one platform process counts, and the registry that exposes it."""

    def __init__(self, replica_id: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        Gauge(f"{PREFIX}_replica_info", "this replica (1)", ["replica"], registry=r).labels(
            replica_id
        ).set(1)
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "time to answer a request, by route template and method",
            ["route", "method"],
            registry=r,
        )
        self.rate_limited = Counter(
            f"{PREFIX}_http_rate_limited",
            "429s: RATE_LIMITED (a key's budget) or TOO_MANY_FAILED_LOGINS (an address's)",
            ["code"],
            registry=r,
        )
        self.aws_errors = Counter(
            f"{PREFIX}_aws_errors",
            "AWS calls that failed after botocore's own attempts, by operation and AWS code",
            ["operation", "code"],
            registry=r,
        )
        self.work = Histogram(
            f"{PREFIX}_work_duration_seconds",
            "one attempt at a peering's background work (accept, delete, reconcile) and how it "
            "ended (done, retry, lost)",
            ["work", "outcome"],
            buckets=_WORK_BUCKETS,
            registry=r,
        )
        self.accepted = Histogram(
            f"{PREFIX}_confirm_to_running_seconds",
            "from the operator's confirmation to the peering running (retries included)",
            buckets=_WORK_BUCKETS,
            registry=r,
        )
        self.failed = Counter(
            f"{PREFIX}_peerings_failed",
            "peerings ended in failed by a permanent answer, by the step (accept, delete)",
            ["step"],
            registry=r,
        )
        self.claims = Counter(
            f"{PREFIX}_lease_claims",
            "peerings whose work this replica leased, by work",
            ["work"],
            registry=r,
        )
        self.expiries = Counter(
            f"{PREFIX}_lease_expiries",
            "leases this replica took over after they ran out on a replica that never gave "
            "them back (died or stalled), by work",
            ["work"],
            registry=r,
        )
        self.lost = Counter(
            f"{PREFIX}_leases_lost",
            "leases this replica found taken over while it still worked the peering",
            registry=r,
        )
        self.checks = Counter(
            f"{PREFIX}_reconciler_checks",
            "the reconciler's checks of a running peering's deployment side, by what it found "
            "(ok, repaired, missing, gone)",
            ["result"],
            registry=r,
        )
        self.repairs = Counter(
            f"{PREFIX}_reconciler_routes_repaired",
            "reverse routes the reconciler restored",
            registry=r,
        )
        self.peerings = Gauge(
            f"{PREFIX}_peerings",
            "peerings by state and tenant, read from the database at each scrape",
            ["tenant", "tenant_name", "state"],
            registry=r,
        )
        self.aws_degraded = Gauge(
            f"{PREFIX}_aws_degraded",
            "1 while AWS fails in a way that may pass (what /healthz calls degraded)",
            registry=r,
        )
        self.store_up = Gauge(
            f"{PREFIX}_store_up",
            "1 when the last scrape could read the database, else 0",
            registry=r,
        )

    # --- what the service reports ---------------------------------------------------------

    def aws_error(self, exc: AwsError) -> None:
        self.aws_errors.labels(exc.operation, exc.code).inc()

    def worked(self, status: PlatformStatus, outcome: str, seconds: float) -> None:
        self.work.labels(WORK_KINDS.get(status, status.value), outcome).observe(seconds)

    def claimed(self, status: PlatformStatus, *, expired: bool) -> None:
        work = WORK_KINDS.get(status, status.value)
        self.claims.labels(work).inc()
        if expired:
            self.expiries.labels(work).inc()

    def reconciled(self, result: str, repaired: int) -> None:
        self.checks.labels(result).inc()
        if repaired:
            self.repairs.inc(repaired)

    # --- the scrape ----------------------------------------------------------------------

    def set_peerings(self, counts: Sequence[tuple[str, str, str | None, int]]) -> None:
        """``(tenant id, tenant name, status or None, count)`` rows → every state of every
        tenant (0 where there is none, so an alert on a state never loses its series)."""
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for tenant, name, status, count in counts:
            states = totals.setdefault((tenant, name), {s.value: 0 for s in PlatformStatus})
            if status is not None:
                states[status] = states.get(status, 0) + count
        self.peerings.clear()
        for (tenant, name), states in totals.items():
            for state, count in states.items():
                self.peerings.labels(tenant, name, state).set(count)

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every figure, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_templates(routes: Sequence[BaseRoute]) -> RouteOf:
    """The template of the route a request's path falls on (``/api/v1/deployments/
    {deployment_id}``), whatever the method; :data:`UNMATCHED` for a path no route serves.
    ``routes`` is read at each request: routes added after this call count too."""

    def route_of(scope: Scope) -> str:
        for route in routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED

    return route_of


class MetricsMiddleware:
    """ASGI middleware outside everything else (the gate included): counts and times every
    request by its route template, and counts 429s by the budget that refused them."""

    def __init__(self, app: Asgi, *, metrics: PlatformMetrics, route_of: RouteOf) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Shared with every layer below (the gate and the routes write the error code here).
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route, method = self.route_of(scope), str(scope["method"])
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)
            if status == 429:
                self.metrics.rate_limited.labels(str(state.get("error_code") or "")).inc()
