"""The dashboard's pure pieces, without a terminal or a network: marks, ages, the path picture,
the header line, the history of states, the create form's verdicts and port parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from peering_core.models import PlatformStatus
from peering_core.poller import SourceState
from peering_core.views import Health, age, countdown
from tui.create_choices import parse_ports, vpc_refusal
from tui.history import GONE, StatusHistory
from tui.render import (
    PollState,
    health_text,
    matches,
    path_picture,
    status_line,
)
from tui.screens.create import validation_problems

from .fixed import (
    DEPLOYMENT_VPCS,
    NOW,
    fixed_create_choices,
    fixed_snapshot,
    pcx_id,
)


def test_health_reads_without_colour():
    assert health_text(Health.OK).plain == "✓ ok"
    assert health_text(Health.WARNING, "x").plain == "! warning: x"
    assert health_text(Health.ERROR, "a" * 100, width=20).plain == "✗ error: " + "a" * 12 + "…"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(5, "5s"), (61, "1m"), (3 * 3600 + 5, "3h"), (2 * 86400, "2d")]
)
def test_ages_are_short(seconds, shown):
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_countdowns_say_when_it_is_too_late():
    assert countdown(NOW + timedelta(days=6, hours=23, minutes=5), NOW) == "6d 23h"
    assert countdown(NOW + timedelta(hours=2, minutes=3), NOW) == "2h 3m"
    assert countdown(NOW + timedelta(seconds=20), NOW) == "1m"
    assert countdown(NOW - timedelta(seconds=1), NOW) == "expired"
    assert countdown(None, NOW) == "-"


def test_every_word_of_the_filter_must_match_some_field():
    assert matches("eu running", ["eu-connected-cars", "running"])
    assert not matches("eu failed", ["eu-connected-cars", "running"])
    assert matches("  ", ["anything"])


def test_the_path_picture_shows_both_vpcs_the_pcx_and_the_intent():
    view = fixed_snapshot().view(pcx_id(1))
    assert view is not None
    picture = path_picture(view, DEPLOYMENT_VPCS["factory-telemetry"])
    assert "10.200.0.0/16" in picture and "172.20.0.0/16" in picture
    assert pcx_id(1) in picture and "ports 5432, 9092" in picture
    assert max(len(line) for line in picture.splitlines()) <= 76, "fits 80 columns"


def test_the_header_names_the_stale_source_and_since_when():
    snapshot = fixed_snapshot()
    stale = snapshot.model_copy(
        update={
            "sources": snapshot.sources
            | {
                "aws:eu-west-1": SourceState(
                    name="aws:eu-west-1",
                    fetched_at=NOW - timedelta(minutes=2),
                    error="DescribeVpcPeeringConnections: Throttling",
                    failing_since=NOW - timedelta(minutes=1),
                )
            }
        }
    )
    line = status_line(PollState.LIVE, stale, NOW + timedelta(seconds=4), 5.0).plain
    assert line.startswith("✗ failing")
    assert "aws:eu-west-1 stale since 11:59:00: DescribeVpcPeeringConnections" in line
    assert "refreshed 4s ago" in line
    assert status_line(PollState.PAUSED, snapshot, NOW, 5.0).plain.startswith("‖ paused")


def test_history_records_only_changes_and_when_a_peering_is_gone():
    history = StatusHistory()
    snapshot = fixed_snapshot()
    assert pcx_id(1) in history.observe(snapshot)
    later = snapshot.model_copy(update={"taken_at": NOW + timedelta(seconds=5)})
    assert history.observe(later) == set()
    gone = later.model_copy(
        update={
            "taken_at": NOW + timedelta(seconds=10),
            "views": tuple(v for v in snapshot.views if v.peering_id != pcx_id(1)),
        }
    )
    assert history.observe(gone) == {pcx_id(1)}
    changes = history.changes(pcx_id(1))
    assert [(c.platform_status, c.aws_status) for c in changes] == [
        ("running", "active"),
        (GONE, GONE),
    ]


@pytest.mark.parametrize(
    ("text", "ports"),
    [("all", ()), ("", ()), ("ALL", ()), ("5432", (5432,)), ("9092, 5432 5432", (5432, 9092))],
)
def test_ports_parse_like_the_cli(text, ports):
    assert parse_ports(text) == ports


@pytest.mark.parametrize(
    ("text", "why"),
    [("abc", "not a port number"), ("0", "not in 1-65535"), ("all, 22", "cannot be mixed")],
)
def test_bad_ports_say_why(text, why):
    with pytest.raises(ValueError, match=why):
        parse_ports(text)


def test_the_form_refuses_what_the_platform_refuses():
    info = DEPLOYMENT_VPCS["factory-telemetry"]
    lab = fixed_create_choices().choice("vpc-00000000000000b07")
    assert lab is not None
    assert "reserves" in str(vpc_refusal(lab.vpc, info, []))
    analytics = fixed_create_choices().choice("vpc-00000000000000b06")
    assert analytics is not None
    assert vpc_refusal(analytics.vpc, info, []) is None
    # Overlapping another live peering of the deployment is refused; a failed one is not.
    record = (
        fixed_snapshot()
        .records[0]
        .model_copy(update={"cidr": "172.21.0.0/20", "vpc_id": "vpc-other"})
    )
    assert "overlaps" in str(vpc_refusal(analytics.vpc, info, [record]))
    failed = record.model_copy(update={"status": PlatformStatus.FAILED})
    assert vpc_refusal(analytics.vpc, info, [failed]) is None


def test_validation_names_everything_missing():
    choices = fixed_create_choices()
    assert validation_problems(choices, None, [], [], "all") == [
        "pick the customer VPC (↑/↓ in the list above)"
    ]
    problems = validation_problems(choices, "vpc-00000000000000b06", [], [], "x")
    assert problems == [
        "pick at least one route table for the route to the deployment",
        "pick at least one security group for the inbound rule",
        "ports: 'x' is not a port number",
    ]
    assert validation_problems(choices, "vpc-00000000000000b07", ["r"], ["s"], "all") == [
        "peer CIDR 100.64.0.0/16 falls in 100.0.0.0/8, which the platform reserves"
    ]
