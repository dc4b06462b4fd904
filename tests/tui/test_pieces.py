"""The dashboard's pure pieces, without a terminal or a network: marks, ages, the path picture,
the header line, the history of states, the create form's verdicts and port parsing, the diff
view's rows and the fix plan as text and as a script."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from peering_core.create_choices import vpc_refusal
from peering_core.drift import RouteState, RuleState, plan_fix
from peering_core.durations import age, countdown
from peering_core.errors import RuleViolation
from peering_core.health import Health
from peering_core.models import PlatformStatus
from peering_core.rules import parse_ports
from peering_core.snapshot import SourceState
from tui import bindings
from tui.drift_text import (
    after_fix_text,
    diff_title,
    plan_counts,
    plan_script,
    plan_table,
    reasons_text,
    route_cells,
    rule_cells,
    state_text,
    verdict,
)
from tui.filtering import matches
from tui.formatting import health_text
from tui.history import GONE, StatusHistory
from tui.path_text import path_picture
from tui.screens.create import validation_problems
from tui.screens.help import key_label
from tui.status import PollState, status_line

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


def test_the_path_states_what_aws_shows_apart_from_what_the_peering_was_made_for():
    # Issue 17 (3): the path box said "routes 10.201.0.0/16 via the pcx in rtb-…" from the
    # intent tags while the problems box said that table had no such route.
    snapshot = fixed_snapshot()
    pcx = pcx_id(2)  # eu-connected-cars: the main table's route was removed behind our back
    view, diff = snapshot.view(pcx), snapshot.diffs[pcx]
    assert view is not None and view.intent is not None
    missing = [r for r in diff.routes if r.actual is None]
    assert missing, "the fixed fleet's drifted peering misses a route"
    picture = path_picture(view, DEPLOYMENT_VPCS["eu-connected-cars"], diff, NOW)
    facts, _, intent = picture.partition("made for")
    for row in missing:
        assert f"✗ {row.route_table_id}: no route" in facts
        assert row.route_table_id in intent  # it was made for it, and says so apart
    assert "via" not in "".join(
        line for line in facts.splitlines() if missing[0].route_table_id in line
    )
    assert "12:00:00" in facts, "the facts say when they were read"
    assert "not what AWS shows" in intent
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
    with pytest.raises(RuleViolation, match=why):
        parse_ports(text)


@pytest.mark.parametrize(
    ("words", "ports"),
    [(["all"], ()), ([], ()), (["5432", "9092,5432"], (5432, 9092)), (["all", "ALL"], ())],
)
def test_the_cli_and_the_form_parse_ports_with_one_rule(words, ports):
    # The command line's repeated --port and the form's one field go through one function.
    assert parse_ports(words, "--port") == ports
    assert parse_ports(" ".join(words)) == ports


def test_all_mixed_with_a_port_is_refused_by_both():
    with pytest.raises(RuleViolation, match="--port: 'all' cannot be mixed"):
        parse_ports(["all", "5432"], "--port")
    with pytest.raises(RuleViolation, match="ports: 'all' cannot be mixed"):
        parse_ports("all, 5432")


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


# --- the diff view and the fix plan ---------------------------------------------------------


def render_plain(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# Issue 17 (5): the marks are the severity's — what stops traffic (a shadowed route included:
# part of the deployment's traffic goes elsewhere) is ✗, what needs attention is !.
WATCH_STATES = {RouteState.STALE, RuleState.STALE, RuleState.TOO_BROAD}


def test_every_drift_state_reads_without_colour():
    for state in (*RouteState, *RuleState):
        mark = state_text(state).plain.split()[0]
        assert mark == ("✓" if state.value == "ok" else "!" if state in WATCH_STATES else "✗")
    assert state_text(RouteState.BLACKHOLE).plain == "✗ blackhole"
    assert state_text(RuleState.TOO_BROAD).plain == "! too_broad"


def test_a_drifted_peerings_rows_say_what_is_expected_and_what_is_there():
    diff = fixed_snapshot().diffs[pcx_id(2)]
    routes = [[str(c) for c in route_cells(r, diff.peering_id)] for r in diff.routes]
    assert routes == [
        ["✓ ok", "rtb-00000000000000c02", "10.201.0.0/16", "this pcx", "this pcx"],
        ["✗ missing", "rtb-00000000000000d02", "10.201.0.0/16", "this pcx", "(no route)"],
    ]
    rules = [[str(c) for c in rule_cells(r, diff.deployment_cidr)] for r in diff.rules]
    assert rules[1] == [
        "✗ missing",
        "sg-00000000000000e82",
        "10.201.0.0/16",
        "all",
        "allow",
        "(not allowed)",
    ]
    # Issue 17 (5): the view said "✗ 2 drift" where the tables said "! warning".
    assert verdict(diff).plain == "✗ error: 2 rows stop traffic"
    assert verdict(fixed_snapshot().diffs[pcx_id(1)]).plain == "✓ ok: in sync"
    reasons = reasons_text(diff).plain.splitlines()
    assert reasons == [f"✗ {row.reason}" for row in diff.drift]


def test_a_deleted_pcx_leaves_blackholes_expected_nowhere():
    diff = fixed_snapshot().diffs[pcx_id(3)]
    cells = [[str(c) for c in route_cells(r, diff.peering_id)] for r in diff.routes]
    assert {tuple(c[3:]) for c in cells} == {("(no route)", "this pcx")}
    (stale,) = [[str(c) for c in rule_cells(r, diff.deployment_cidr)] for r in diff.rules]
    assert stale[0] == "! stale" and stale[4] == "(no rule)" and stale[5].startswith("sgr-")
    title = diff_title(diff, diff.peering_id, "apac-sensors", diff.region, None).plain
    assert title == f"{diff.peering_id}  apac-sensors (d0000004) · ap-southeast-1"


def test_the_plan_lists_held_back_actions_with_the_flag_they_need():
    diff = fixed_snapshot().diffs[pcx_id(3)]
    plan = plan_fix([diff])
    text = render_plain(plan_table(plan, replace=False, revoke=False))
    assert "· 1. rtb-00000000000000c03 routes" in text and "· 2." in text
    (held,) = [line for line in text.splitlines() if "held back" in line]
    assert held.startswith("- ") and "held back, needs --revoke: sg-00000000000000e03" in held
    assert "aws ec2 revoke-security-group-ingress" in text
    assert plan_counts(plan, replace=False, revoke=False) == (
        2, {"replace": 0, "revoke": 1, "nacl": 0},
    )  # fmt: skip
    assert plan_counts(plan, replace=False, revoke=True) == (
        3, {"replace": 0, "revoke": 0, "nacl": 0},
    )  # fmt: skip
    ticked = render_plain(plan_table(plan, replace=False, revoke=True))
    assert "held back" not in ticked and "· 3. sg-00000000000000e03" in ticked


def test_the_copied_plan_is_a_script_with_held_back_commands_commented_out():
    diff = fixed_snapshot().diffs[pcx_id(3)]
    plan = plan_fix([diff])
    script = plan_script(plan, diff, "apac-sensors", replace=False, revoke=False)
    commands = [line for line in script.splitlines() if not line.startswith("#")]
    assert commands == [a.aws_cli() for a in plan.allowed(replace=False, revoke=False)]
    assert all(c.startswith("aws ec2 delete-route ") for c in commands)
    assert "# aws ec2 revoke-security-group-ingress" in script
    with_revoke = plan_script(plan, diff, "apac-sensors", replace=False, revoke=True)
    assert "\naws ec2 revoke-security-group-ingress" in with_revoke


def test_after_a_fix_the_verdict_says_what_is_left_and_which_key_ticks_it():
    diff = fixed_snapshot().diffs[pcx_id(3)]
    left = diff.model_copy(update={"routes": ()})
    plan = plan_fix([left])
    _, held = plan_counts(plan, replace=False, revoke=False)
    text = after_fix_text(left, plan, 0, held).plain
    assert text.startswith("re-diffed: ! warning: 1 row needs attention")
    assert "1 need --revoke (v ticks it)" in text
    synced = after_fix_text(fixed_snapshot().diffs[pcx_id(1)], plan_fix([]), 0, held).plain
    assert synced == "re-diffed: ✓ ok: in sync"


# --- the README's key map -------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def key_map() -> str:
    """The README's key map as it must read: every binding of every screen, in the help
    screen's order and words (paste this into the README when a binding changes)."""
    rows = ["| where | key | does |", "|---|---|---|"]
    for title, section in bindings.SECTIONS:
        for index, binding in enumerate(section):
            does = f"**{binding.description}**"
            if binding.tooltip:
                does += f" — {binding.tooltip}"
            if binding.action in bindings.MUTATING_ACTIONS:
                does += " (refused in read-only mode)"
            key = key_label(binding.key, binding.key_display)
            rows.append(f"| {title if index == 0 else ''} | `{key}` | {does} |")
    for index, (key, does_text) in enumerate(bindings.BUILT_IN):
        rows.append(f"| {'Textual' if index == 0 else ''} | `{key}` | {does_text} |")
    return "\n".join(rows)


def test_the_readme_key_map_matches_the_help_screen():
    text = README.read_text()
    section = text[text.index("## Dashboard") : text.index("## What it does")]
    assert key_map() in section, "update the README's key map:\n" + key_map()
