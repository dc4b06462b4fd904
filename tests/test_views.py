"""Health verdicts in plain words, decided from data alone (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peering_core.health import Health, build_views, deployment_side_words, deployment_views
from peering_core.intent import PeeringIntent
from peering_core.models import (
    AwsPeering,
    Deployment,
    DeploymentVpc,
    PeeringSide,
    PlatformPeering,
    PlatformSide,
    PlatformStatus,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DEP = Deployment(
    id="d1", name="factory", region="us-east-1", status="running", version="5", create_at=NOW
)
VPC = DeploymentVpc(
    deployment_id="d1",
    region="us-east-1",
    vpc_id="vpc-0000000a",
    cidr="10.200.0.0/16",
    account_id="123456789012",
    reserved_cidrs=("100.0.0.0/8",),
)


def record(
    status: PlatformStatus, reason: str | None = None, pcx: str = "pcx-0000000001"
) -> PlatformPeering:
    return PlatformPeering(
        peering_id=pcx,
        deployment_id="d1",
        account_id="210987654321",
        vpc_id="vpc-0000000b",
        cidr="172.20.0.0/16",
        region="us-east-1",
        status=status,
        reason=reason,
        create_at=NOW,
        update_at=NOW,
    )


def pcx(status: str, pid: str = "pcx-0000000001", tags=None, expiration=None) -> AwsPeering:
    return AwsPeering(
        id=pid,
        status=status,
        requester=PeeringSide(
            owner_id="210987654321", vpc_id="vpc-0000000b", region="us-east-1", cidr="172.20.0.0/16"
        ),
        accepter=PeeringSide(
            owner_id="123456789012", vpc_id="vpc-0000000a", region="us-east-1", cidr="10.200.0.0/16"
        ),
        tags=tags or {},
        expiration_time=expiration,
    )


def one(records, pcxs, **kw):
    (view,) = build_views([DEP], [VPC], records, pcxs, now=NOW, **kw)
    return view


def test_running_on_both_sides_is_healthy():
    view = one([record(PlatformStatus.RUNNING)], [pcx("active")])
    assert view.health is Health.OK and view.problems == ()


def test_platform_running_while_the_pcx_was_deleted_on_aws_is_an_error():
    view = one([record(PlatformStatus.RUNNING)], [pcx("deleted")])
    assert view.health is Health.ERROR
    assert "platform running but pcx deleted on AWS" in view.summary


def test_a_request_never_confirmed_counts_down_to_its_expiry():
    intent = PeeringIntent(
        deployment_id="d1",
        route_tables=(),
        security_groups=(),
        requested_at=NOW - timedelta(days=5, hours=2),
    )
    view = one([], [pcx("pending-acceptance", tags=intent.to_tags())])
    assert view.health is Health.WARNING and not view.confirmed
    assert "never confirmed" in view.summary
    assert "1d 22h" in view.summary
    assert view.expires_at == NOW + timedelta(days=1, hours=22)


def test_aws_expiration_time_wins_over_the_intent():
    view = one([], [pcx("pending-acceptance", expiration=NOW + timedelta(hours=3))])
    assert "3h 0m" in view.summary


def test_a_failed_peering_shows_the_platform_reason():
    view = one(
        [record(PlatformStatus.FAILED, "CIDR overlap: route table rtb-1")], [pcx("rejected")]
    )
    assert view.health is Health.ERROR
    assert "CIDR overlap: route table rtb-1" in view.summary


def test_a_record_whose_pcx_aws_no_longer_shows_is_an_error():
    view = one([record(PlatformStatus.RUNNING)], [])
    assert view.health is Health.ERROR
    assert "no longer shows" in view.summary


def test_an_unreadable_region_is_unknown_not_missing():
    view = one([record(PlatformStatus.RUNNING)], [], aws_regions_read=[])
    assert view.health is Health.WARNING
    assert "unknown" in view.summary


def test_pending_and_deleting_are_warnings_in_progress():
    assert (
        one([record(PlatformStatus.PENDING)], [pcx("pending-acceptance")]).health is Health.WARNING
    )
    assert one([record(PlatformStatus.DELETING)], [pcx("active")]).health is Health.WARNING


def test_deleted_pcxs_without_a_record_are_history_and_hidden():
    assert build_views([DEP], [VPC], [], [pcx("deleted")], now=NOW) == []


def test_an_active_pcx_the_platform_does_not_know_is_an_error():
    view = one([], [pcx("active")])
    assert view.health is Health.ERROR and "no record" in view.summary


@pytest.mark.parametrize(
    ("extra", "health"),
    [
        # Issue 17 (5): a missing route stops traffic; it showed "! warning" like a request
        # waiting to be confirmed.
        ([(Health.ERROR, "route missing in rtb-1")], Health.ERROR),
        (
            [(Health.WARNING, "rtb-1 routes 10.9.0.0/16 via the pcx, which is stale")],
            Health.WARNING,
        ),
    ],
)
def test_drift_gives_a_healthy_peering_its_own_severity(extra, health):
    view = one([record(PlatformStatus.RUNNING)], [pcx("active")], drift={"pcx-0000000001": extra})
    assert view.health is health and view.problems == tuple(text for _, text in extra)


def test_what_stops_traffic_is_said_before_what_needs_attention():
    drift = {"pcx-0000000001": [(Health.ERROR, "no route"), (Health.WARNING, "stale rule")]}
    view = one([record(PlatformStatus.PENDING)], [pcx("provisioning")], drift=drift)
    assert view.health is Health.ERROR
    assert view.problems[0] == "no route" and view.problems[-1] == "stale rule"


def test_a_deployment_takes_the_worst_health_of_its_peerings():
    views = build_views(
        [DEP],
        [VPC],
        [record(PlatformStatus.RUNNING), record(PlatformStatus.FAILED, "x", pcx="pcx-0000000002")],
        [pcx("active"), pcx("rejected", pid="pcx-0000000002")],
        now=NOW,
    )
    (dep,) = deployment_views([DEP], [VPC], views)
    assert dep.peering_count == 2 and dep.health is Health.ERROR


@pytest.mark.parametrize(
    ("status", "doing"),
    [(PlatformStatus.PENDING, "accepting"), (PlatformStatus.DELETING, "deleting")],
)
def test_work_the_platform_keeps_retrying_says_retrying_and_why(status, doing):
    waiting = record(status).model_copy(
        update={
            "last_error": "describe_vpc_peering_connections: EndpointConnectionError: x",
            "attempts": 3,
            "next_attempt_at": NOW,
        }
    )
    view = one([waiting], [pcx("active")])
    assert view.health is Health.WARNING
    assert view.problems == (
        "retrying: describe_vpc_peering_connections: EndpointConnectionError: x "
        f"({doing}; 3 attempts so far)",
    )


def test_the_deployment_sides_missing_route_is_an_error_on_a_running_peering():
    side = PlatformSide(
        pcx_state="active",
        routes="missing",
        missing_routes=("rtb-1:172.20.0.0/16 (routed to igw-1)",),
    )
    view = one(
        [record(PlatformStatus.RUNNING).model_copy(update={"platform_side": side})], [pcx("active")]
    )
    # Issue 17 (5): no way back for the deployment's replies: traffic cannot flow.
    assert view.health is Health.ERROR
    assert view.problems == (
        "deployment side: pcx active, routes missing: rtb-1:172.20.0.0/16 (routed to igw-1)",
    )
    fine = PlatformSide(pcx_state="active", routes="ok", routes_repaired=2)
    assert deployment_side_words(fine) == "pcx active, routes ok (2 restored so far)"


def test_a_peerings_json_is_camel_case_but_its_tags_stay_as_written():
    from datetime import UTC, datetime

    from peering_core.health import camel_json

    raw = {"owner_id": "1", "tags": {"cost_center": "ops"}, "at": datetime(2026, 1, 2, tzinfo=UTC)}
    assert camel_json(raw) == {
        "ownerId": "1",
        "tags": {"cost_center": "ops"},
        "at": "2026-01-02T00:00:00Z",
    }


@pytest.mark.parametrize("state", ["rejected", "expired", "failed", "deleted"])
def test_a_pcx_gone_on_aws_without_a_record_is_history(state):
    # Issue 17 (2): after a failed peering is cleared, its rejected pcx must not keep the
    # deployment in warning as an "unconfirmed" row.
    assert build_views([DEP], [VPC], [], [pcx(state)], now=NOW) == []
