"""``peering-tui watch``: the fleet's changes as events.

First the decisions, on snapshots built from the core's own view function (no network); then
the command itself, as a process of its own on the sandbox, stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from peering_core.aws import Ec2Gateway
from peering_core.changes import ChangeKind, fleet_changes
from peering_core.create import CreateRequest, create_peering
from peering_core.health import Health, build_views
from peering_core.models import PlatformStatus
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID
from peering_core.sandbox.servers import Sandbox
from peering_core.snapshot import PLATFORM, Snapshot, SourceState

from .cli_helpers import Cli
from .faults import FaultProxy
from .test_views import DEP, NOW, VPC, pcx, record

REQUESTED_AT = NOW - timedelta(days=1)


def snapshot(records=(), pcxs=(), *, at=NOW, drift=None, platform_error=None) -> Snapshot:
    views = build_views([DEP], [VPC], list(records), list(pcxs), now=at, drift=drift)
    source = SourceState(
        name=PLATFORM,
        fetched_at=at if platform_error is None else NOW,
        error=platform_error,
        failing_since=at if platform_error else None,
    )
    return Snapshot(taken_at=at, views=tuple(views), sources={PLATFORM: source})


def kinds(changes) -> list[tuple[str, str | None]]:
    return [(c.kind.value, c.peering_id or c.source) for c in changes]


def test_nothing_changed_is_no_event():
    before = snapshot([record(PlatformStatus.RUNNING)], [pcx("active")])
    after = snapshot(
        [record(PlatformStatus.RUNNING)], [pcx("active")], at=NOW + timedelta(seconds=5)
    )
    assert fleet_changes(before, after) == []


def test_a_peering_accepted_changes_status_on_both_sides_and_its_health():
    before = snapshot([record(PlatformStatus.PENDING)], [pcx("pending-acceptance")])
    after = snapshot(
        [record(PlatformStatus.RUNNING)], [pcx("active")], at=NOW + timedelta(seconds=5)
    )
    changes = fleet_changes(before, after)
    assert kinds(changes) == [
        ("platform-status", "pcx-0000000001"),
        ("aws-status", "pcx-0000000001"),
        ("health", "pcx-0000000001"),
    ]
    status, aws, health = changes
    assert (status.before, status.after) == (
        {"platformStatus": "pending"},
        {"platformStatus": "running"},
    )
    assert (aws.before, aws.after) == (
        {"awsStatus": "pending-acceptance"},
        {"awsStatus": "active"},
    )
    assert health.before == {
        "health": "warning",
        "problems": ["confirmed; the platform is accepting it"],
    }
    assert health.after == {"health": "ok", "problems": []}
    event = health.to_json()
    assert event["event"] == "health" and event["time"] == (NOW + timedelta(seconds=5)).isoformat()
    assert event["deploymentID"] == "d1" and event["deploymentName"] == "factory"
    assert event["account"] == "210987654321" and event["region"] == "us-east-1"
    assert "source" not in event
    assert health.to_text().endswith("pcx-0000000001  factory (d1)  warning → ok")


def test_drift_appearing_is_one_health_event_with_its_problems_and_its_fix_one_back():
    healthy = snapshot([record(PlatformStatus.RUNNING)], [pcx("active")])
    problem = "route table rtb-1 has no route to 10.200.0.0/16"
    drifted = snapshot(
        [record(PlatformStatus.RUNNING)],
        [pcx("active")],
        at=NOW + timedelta(seconds=5),
        drift={"pcx-0000000001": [(Health.ERROR, problem)]},
    )
    fixed = snapshot(
        [record(PlatformStatus.RUNNING)], [pcx("active")], at=NOW + timedelta(seconds=10)
    )
    (broke,) = fleet_changes(healthy, drifted)
    (mended,) = fleet_changes(drifted, fixed)
    assert broke.kind is ChangeKind.HEALTH and mended.kind is ChangeKind.HEALTH
    assert broke.after == {"health": "error", "problems": [problem]}
    assert mended.before == broke.after and mended.after == {"health": "ok", "problems": []}
    assert broke.to_text().endswith(f"ok → error: {problem}")


def test_a_countdown_ticking_is_not_a_change_but_the_request_expiring_is():
    tags = {"peering-tui:deployment": "d1", "peering-tui:route-tables": "rtb-1"}
    tags["peering-tui:requested-at"] = REQUESTED_AT.isoformat()
    request = pcx("pending-acceptance", tags=tags)
    before = snapshot([], [request])
    hours_later = snapshot([], [request], at=NOW + timedelta(hours=3))
    assert before.views[0].problems != hours_later.views[0].problems, "the text did tick"
    assert fleet_changes(before, hours_later) == []
    expired = snapshot([], [request], at=NOW + timedelta(days=7))
    (change,) = fleet_changes(hours_later, expired)
    assert change.kind is ChangeKind.HEALTH
    assert "AWS has expired the request" in change.after["problems"][0]


def test_a_peering_appearing_and_disappearing():
    empty = snapshot()
    one = snapshot([], [pcx("pending-acceptance")], at=NOW + timedelta(seconds=5))
    gone = snapshot(at=NOW + timedelta(seconds=10))
    (appeared,) = fleet_changes(empty, one)
    (disappeared,) = fleet_changes(one, gone)
    assert appeared.kind is ChangeKind.APPEARED and appeared.before is None
    assert appeared.after["platformStatus"] is None
    assert appeared.after["awsStatus"] == "pending-acceptance"
    assert disappeared.kind is ChangeKind.DISAPPEARED and disappeared.after is None
    assert disappeared.before == appeared.after
    assert json.loads(json.dumps(disappeared.to_json()))["after"] is None


def test_the_first_snapshot_shows_every_peering_as_appeared():
    first = snapshot([record(PlatformStatus.RUNNING)], [pcx("active")])
    assert kinds(fleet_changes(None, first)) == [("appeared", "pcx-0000000001")]


def test_a_source_failing_and_coming_back_are_events_and_the_peerings_stay():
    fine = snapshot([record(PlatformStatus.RUNNING)], [pcx("active")])
    down = snapshot(
        [record(PlatformStatus.RUNNING)],
        [pcx("active")],
        at=NOW + timedelta(seconds=5),
        platform_error="PLATFORM_UNREACHABLE: platform did not answer after 5 tries",
    )
    back = snapshot(
        [record(PlatformStatus.RUNNING)], [pcx("active")], at=NOW + timedelta(seconds=10)
    )
    (failing,) = fleet_changes(fine, down)
    (recovered,) = fleet_changes(down, back)
    assert failing.kind is ChangeKind.SOURCE_FAILING and failing.source == PLATFORM
    assert failing.after == {
        "ok": False,
        "error": "PLATFORM_UNREACHABLE: platform did not answer after 5 tries",
    }
    assert recovered.kind is ChangeKind.SOURCE_RECOVERED and recovered.after["ok"] is True
    assert failing.to_json()["source"] == "platform" and "peeringId" not in failing.to_json()
    assert "failing: PLATFORM_UNREACHABLE" in failing.to_text()
    assert (
        fleet_changes(down, down.model_copy(update={"taken_at": NOW + timedelta(seconds=7)})) == []
    )


# --- the command, end to end ------------------------------------------------------------------

HOOK = (
    "import json, os, sys; "
    "open(sys.argv[1], 'a').write(json.dumps({'event': json.loads(sys.stdin.read()), "
    "'kind': os.environ['PEERING_EVENT'], 'pcx': os.environ['PEERING_PEERING_ID'], "
    "'secret': 'PEERING_PLATFORM_SECRET' in os.environ}) + '\\n')"
)
WAIT = 60.0


class Watching:
    """``peering-tui watch --json`` in a process of its own, its platform reached through a
    proxy that counts requests (four platform GETs per poll) and can fail them."""

    def __init__(self, process: asyncio.subprocess.Process, proxy: FaultProxy) -> None:
        self.process = process
        self.proxy = proxy

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        except TimeoutError:
            raise AssertionError(f"no event within {WAIT:.0f}s: {await self.said()}") from None
        assert line, f"watch ended: {await self.said()}"
        return dict(json.loads(line))

    async def said(self) -> str:
        """What watch wrote on standard error so far (it is stopped to read it)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.process.communicate(), WAIT)
        return err.decode()

    async def polls(self, count: int) -> None:
        """Until ``count`` polls that began after this call have finished: the one under way
        may have read AWS before the caller's change, so one more must begin after them."""
        target = self.proxy.forwarded + 4 * (count + 1) + 1
        async with asyncio.timeout(WAIT):
            while self.proxy.forwarded < target:
                await asyncio.sleep(0.05)

    def nothing_more(self) -> None:
        assert self.process.stdout is not None
        assert self.process.stdout.at_eof() or not self.process.stdout._buffer  # type: ignore[attr-defined]


@pytest.mark.heavy
async def test_watch_streams_a_route_deleted_and_fixed_and_the_platform_going_away(
    sandbox: Sandbox, platform: PlatformClient, customer: Ec2Gateway, tmp_path: Path
) -> None:
    report = await sandbox.seed(demo=False)
    vpc = report.vpcs["prod-data"]
    deployment = report.deployments["factory-telemetry"]
    request = CreateRequest(deployment_id=deployment.id, vpc_id=vpc.vpc_id)
    pcx_id = (await create_peering(request, platform, customer, poll_interval=0.05)).peering_id
    cidr = (await platform.deployment_vpc(deployment.id)).cidr
    hooked = tmp_path / "events.jsonl"
    proxy = FaultProxy(sandbox.platform_url, faults=("503",)).start()
    env = (
        os.environ
        | sandbox.environment()
        | {
            "PEERING_PLATFORM_URL": proxy.url,
            "PEERING_CONFIG": str(tmp_path / "none.toml"),
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from peering_core.cli import main; raise SystemExit(main())",
        "watch", "--json", "--refresh", "2",
        "--exec", shlex.join([sys.executable, "-c", HOOK, str(hooked)]),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    watching = Watching(process, proxy)
    try:
        await watching.polls(1)
        await customer.delete_route(vpc.region, vpc.main_route_table, cidr)
        broke = await watching.event()
        await customer.create_route(vpc.region, vpc.main_route_table, cidr, pcx_id)
        mended = await watching.event()
        # Another event here would be read as the next one, and fail its checks.
        proxy.set_rate(1.0)  # the platform answers 503 to everything
        failing = await watching.event()
        proxy.set_rate(0.0)
        recovered = await watching.event()
        await watching.polls(1)
        watching.nothing_more()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), WAIT)
        proxy.stop()

    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert (broke["event"], broke["peeringId"]) == ("health", pcx_id)
    assert broke["before"] == {"health": "ok", "problems": []}
    assert broke["after"]["health"] == "error"  # no route: traffic stops
    assert any(vpc.main_route_table in p for p in broke["after"]["problems"])
    assert broke["deploymentID"] == deployment.id and broke["account"] == CUSTOMER_ACCOUNT_ID
    assert (mended["event"], mended["before"], mended["after"]) == (
        "health",
        broke["after"],
        {"health": "ok", "problems": []},
    )
    assert (failing["event"], failing["source"]) == ("source-failing", "platform")
    assert "503" in failing["after"]["error"] or "UNAVAILABLE" in failing["after"]["error"]
    assert (recovered["event"], recovered["source"]) == ("source-recovered", "platform")
    hook_runs = [json.loads(line) for line in hooked.read_text().splitlines()]
    assert [h["event"] for h in hook_runs] == [broke, mended, failing, recovered]
    assert [h["kind"] for h in hook_runs] == [
        "health", "health", "source-failing", "source-recovered",
    ]  # fmt: skip
    assert hook_runs[0]["pcx"] == pcx_id
    assert not any(h["secret"] for h in hook_runs), "the hook never sees the platform secret"


def test_watch_refuses_an_exec_command_that_does_not_exist(cli: Cli) -> None:
    result = cli("watch", "--json", "--exec", "no-such-pager --now")
    assert result.code == 2
    assert result.json["error"]["code"] == "INVALID_ARGUMENT"
    assert "no-such-pager not found" in result.json["error"]["message"]
