"""Throttling, outages and dropped connections, as production serves them.

The customer-side clients talk to the real moto server and the real platform through
:class:`FaultProxy` instances that answer a share of the requests themselves: AWS throttling
(503 ``RequestLimitExceeded``), 500s, connection resets and slow replies; platform 429s with
``Retry-After``, 503s, resets and slow replies. The dashboard's poller must keep going and say
which side is stale; create and delete must end done or stopped with a clear message, and a
re-run must finish the job with exactly one of everything.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from peering_core.aws import Ec2Gateway
from peering_core.create import CreateRequest, create_peering, plan_create, request_pcx
from peering_core.delete import DeleteRequest, delete_peering
from peering_core.errors import PeeringError
from peering_core.intent import TAG_REQUEST_TOKEN
from peering_core.platform_client import PlatformClient
from peering_core.poller import Fleet, StatusPoller
from peering_core.sandbox.seed import CustomerVpc, build_customer_vpc
from peering_core.sandbox.servers import Sandbox
from peering_core.snapshot import PLATFORM, Snapshot, aws_source
from peering_core.workflow import Progress, Reporter, Step

from .faults import AWS_FAULTS, PLATFORM_FAULTS, FaultProxy
from .reliability import kinds, report

REGION = "us-east-1"
DEPLOYMENT_CIDR = "10.200.0.0/16"
SEED = 31  # fixed: the same faults in the same order for the same requests


@dataclass
class Proxies:
    """One fault proxy in front of moto (the customer's AWS), one in front of the platform."""

    aws: FaultProxy
    platform: FaultProxy

    def set_rate(self, rate: float, lose_rate: float = 0.0) -> None:
        self.aws.set_rate(rate, lose_rate)
        self.platform.set_rate(rate, lose_rate)

    def injected(self) -> Counter[str]:
        return Counter({f"aws {k}": v for k, v in self.aws.injected.items()}) + Counter(
            {f"platform {k}": v for k, v in self.platform.injected.items()}
        )


@pytest.fixture
def proxies(sandbox: Sandbox) -> Iterator[Proxies]:
    pair = Proxies(
        aws=FaultProxy(sandbox.moto.url, faults=AWS_FAULTS, seed=SEED, slow_seconds=0.05).start(),
        platform=FaultProxy(
            sandbox.platform_url, faults=PLATFORM_FAULTS, seed=SEED + 1, slow_seconds=0.05
        ).start(),
    )
    yield pair
    pair.aws.stop()
    pair.platform.stop()


def customer_gateway(
    sandbox: Sandbox, proxies: Proxies, *, max_attempts: int, lane: int | None = None
) -> Ec2Gateway:
    """The customer's EC2, reached through the AWS fault proxy (a lane of it, if given)."""
    url = proxies.aws.url if lane is None else proxies.aws.lane(lane)
    access = sandbox.customer_aws.model_copy(update={"endpoint_url": url})
    return Ec2Gateway(access, default_region=REGION, max_attempts=max_attempts)


def platform_client(
    sandbox: Sandbox,
    proxies: Proxies,
    *,
    max_attempts: int,
    backoff: float = 0.25,
    max_retry_after: float = 30.0,
    lane: int | None = None,
) -> PlatformClient:
    """The platform API, reached through the platform fault proxy (a lane of it, if given)."""
    return PlatformClient(
        proxies.platform.url if lane is None else proxies.platform.lane(lane),
        sandbox.key,
        sandbox.secret,
        max_attempts=max_attempts,
        backoff=backoff,
        max_retry_after=max_retry_after,
    )


@dataclass
class Estate:
    """One deployment in one region and the customer's VPCs beside it."""

    deployment_id: str
    vpcs: dict[str, CustomerVpc] = field(default_factory=dict)


async def build_estate(sandbox: Sandbox, vpcs: dict[str, str]) -> Estate:
    """The deployment and the customer VPCs, built directly (no faults yet)."""
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        deployment = await platform.create_deployment("factory-telemetry", REGION, DEPLOYMENT_CIDR)
        built = await asyncio.gather(
            *(build_customer_vpc(ec2, name, REGION, cidr) for name, cidr in vpcs.items())
        )
    return Estate(deployment.id, dict(zip(vpcs, built, strict=True)))


# --- the dashboard's poller ---------------------------------------------------------------


@pytest.fixture
async def peered(sandbox: Sandbox) -> AsyncIterator[tuple[Estate, list[str]]]:
    """One deployment peered with two customer VPCs, both running."""
    estate = await build_estate(
        sandbox, {"prod-data": "172.20.0.0/16", "analytics": "172.21.0.0/16"}
    )
    peerings = []
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        for vpc in estate.vpcs.values():
            request = CreateRequest(deployment_id=estate.deployment_id, vpc_id=vpc.vpc_id)
            result = await create_peering(request, platform, ec2, poll_interval=0.05)
            peerings.append(result.peering_id)
    yield estate, peerings


def check_sources(snapshot: Snapshot, previous: Snapshot) -> None:
    """Every source is fresh, or stale with its error, since when, and its last good time."""
    assert set(snapshot.sources) == {PLATFORM, aws_source(REGION)}
    for name, source in snapshot.sources.items():
        before = previous.sources[name]
        if source.ok:
            assert source.fetched_at == snapshot.taken_at and source.failing_since is None
            continue
        assert source.error, name
        assert source.fetched_at is not None and source.fetched_at <= snapshot.taken_at
        assert source.fetched_at == before.fetched_at, "a stale source keeps its last good time"
        expected_since = before.failing_since if not before.ok else snapshot.taken_at
        assert source.failing_since == expected_since, name


@pytest.mark.heavy
# A tick makes a dozen requests: at 30% faults on each, a fully fresh tick is rare (~1 in 70),
# so the short run injects fewer, to see fresh ticks among the stale ones too.
@pytest.mark.parametrize(
    ("ticks", "rate"), [(40, 0.15), pytest.param(200, 0.3, marks=pytest.mark.slow)]
)
async def test_the_dashboard_keeps_polling_through_faults_and_says_which_side_is_stale(
    sandbox: Sandbox, proxies: Proxies, peered: tuple[Estate, list[str]], ticks: int, rate: float
) -> None:
    _estate, peerings = peered
    async with (
        platform_client(
            sandbox, proxies, max_attempts=1, backoff=0.01, max_retry_after=0.1
        ) as platform,
        customer_gateway(sandbox, proxies, max_attempts=1) as ec2,
    ):
        poller = StatusPoller(Fleet(platform, ec2, drift=True), interval=5.0, max_backoff=60.0)
        polls = aiter(poller)
        previous = await anext(polls)
        assert previous.ok, previous.failing
        assert sorted(v.peering_id for v in previous.views) == sorted(peerings)

        proxies.set_rate(rate)
        loop = asyncio.get_running_loop()
        began = loop.time()
        stale: Counter[str] = Counter()
        for _ in range(ticks):
            poller.refresh()
            snapshot = await anext(polls)
            check_sources(snapshot, previous)
            # Stale or not, both peerings stay on the screen.
            assert sorted(v.peering_id for v in snapshot.views) == sorted(peerings)
            if snapshot.ok:
                assert poller.next_delay() == poller.interval
            else:
                assert poller.next_delay() == min(60.0, 5.0 * 2**poller.failures)
            stale.update(s.name for s in snapshot.failing)
            stale["any"] += not snapshot.ok
            previous = snapshot
        injected = proxies.injected()
        per_tick = (loop.time() - began) / ticks

        proxies.set_rate(0.0)
        poller.refresh()
        started = loop.time()
        fresh = await anext(polls)
        recovery = loop.time() - started
        assert fresh.ok, fresh.failing
        assert recovery < poller.interval, "fresh again within one poll interval"
        assert poller.next_delay() == poller.interval
        assert all(s.failing_since is None for s in fresh.sources.values())
        assert {v.peering_id: v.health.value for v in fresh.views} == dict.fromkeys(peerings, "ok")

    assert stale["any"] > 0 and stale["any"] < ticks, "the faults made some ticks stale, not all"
    report(
        f"poller: {ticks} ticks at {rate:.0%} faults, {kinds(injected)} faults injected; "
        f"{stale['any']} ticks with a stale source (platform {stale[PLATFORM]}, "
        f"aws {stale[aws_source(REGION)]}), 0 exceptions; "
        f"{per_tick:.2f} s per tick under faults; first tick after the faults: fresh, "
        f"in {recovery:.2f} s"
    )


# --- create and delete --------------------------------------------------------------------

TRANSIENT = (
    "RequestLimitExceeded",
    "InternalError",
    "ConnectionClosedError",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "PLATFORM_UNREACHABLE",
)
CUSTOMER_VPCS = {f"app-{i}": f"172.{20 + i}.0.0/16" for i in range(6)}
PORTS = (1883, 8883)
ATTEMPTS = 3


@dataclass
class Ledger:
    """What each run ended with, for the figures."""

    outcomes: Counter[str] = field(default_factory=Counter)
    stops: list[str] = field(default_factory=list)


async def run_once(
    sandbox: Sandbox,
    proxies: Proxies,
    ledger: Ledger,
    what: str,
    action: Any,
    lane: int | None = None,
) -> Any:
    """One CLI-like run (fresh clients, the real retry paths with three attempts each);
    ``None`` if it stopped cleanly."""
    async with (
        platform_client(sandbox, proxies, max_attempts=ATTEMPTS, lane=lane) as platform,
        customer_gateway(sandbox, proxies, max_attempts=ATTEMPTS, lane=lane) as ec2,
    ):
        try:
            result = await action(platform, ec2)
        except PeeringError as exc:
            # Every stop names its step, whichever call failed (AWS, the platform, a rule).
            message = f"{exc.code} during {exc.step}: {exc}"
            assert exc.step, f"{what} stopped without saying where: {message}"
        else:
            ledger.outcomes[f"{what} done"] += 1
            return result
    assert any(code in message for code in TRANSIENT), f"{what}: unclear stop: {message}"
    ledger.outcomes[f"{what} stopped"] += 1
    ledger.stops.append(f"{what}: {message}")
    return None


async def until_done(
    sandbox: Sandbox, proxies: Proxies, ledger: Ledger, what: str, action: Any, rate: float
) -> Any:
    """Run under faults; if it stopped, run it again with the faults off: it must finish."""
    result = await run_once(sandbox, proxies, ledger, what, action)
    if result is None:
        proxies.set_rate(0.0)
        try:
            result = await run_once(sandbox, proxies, ledger, f"{what} re-run", action)
        finally:
            proxies.set_rate(rate)
        assert result is not None, f"{what}: the re-run without faults did not finish"
    return result


async def read_back(sandbox: Sandbox, estate: Estate) -> dict[str, Any]:
    """Both sides, read directly (no proxy): pcxs, routes and rules of the customer's VPCs."""
    vpc_ids = [v.vpc_id for v in estate.vpcs.values()]
    async with sandbox.client() as platform, sandbox.customer_gateway() as ec2:
        pcxs = await ec2.describe_peerings(REGION, requester_vpc_ids=vpc_ids)
        tables = await ec2.describe_route_tables(REGION, vpc_ids=vpc_ids)
        groups = [v.security_groups["app"] for v in estate.vpcs.values()]
        rules = await ec2.describe_security_group_rules(REGION, groups)
        records = await platform.peerings(estate.deployment_id)
    return {
        "live": {p.id: p for p in pcxs if p.status not in ("deleted", "deleting", "rejected")},
        "pending": [p.id for p in pcxs if p.status == "pending-acceptance"],
        "routes": [
            (t.id, r.target_id)
            for t in tables
            for r in t.routes
            if r.destination == DEPLOYMENT_CIDR
        ],
        "rules": [
            (r.group_id, r.from_port)
            for r in rules
            if not r.is_egress and r.cidr == DEPLOYMENT_CIDR
        ],
        "records": {r.peering_id: r for r in records},
    }


@pytest.mark.heavy
async def test_creates_and_deletes_under_faults_end_done_or_clearly_stopped_and_lose_nothing(
    sandbox: Sandbox, proxies: Proxies
) -> None:
    rate = 0.3
    estate = await build_estate(sandbox, CUSTOMER_VPCS)
    ledger = Ledger()
    proxies.set_rate(rate)

    created: dict[str, str] = {}
    for name, vpc in estate.vpcs.items():
        request = CreateRequest(
            deployment_id=estate.deployment_id,
            vpc_id=vpc.vpc_id,
            security_groups=(vpc.security_groups["app"],),
            ports=PORTS,
        )

        async def create(platform: PlatformClient, ec2: Ec2Gateway, r: CreateRequest = request):
            return await create_peering(r, platform, ec2, poll_interval=0.05)

        result = await until_done(sandbox, proxies, ledger, "create", create, rate)
        created[name] = result.peering_id

    state = await read_back(sandbox, estate)
    # Exactly one live pcx per intended peering, each confirmed and running on the platform.
    assert sorted(state["live"]) == sorted(created.values())
    assert state["pending"] == [], "no request left unconfirmed"
    assert sorted(state["records"]) == sorted(created.values()), "no record without its pcx"
    assert {r.status.value for r in state["records"].values()} == {"running"}
    for name, vpc in estate.vpcs.items():
        assert state["live"][created[name]].requester.vpc_id == vpc.vpc_id
    # One route per route table, one rule per port.
    expected_routes = sorted(
        (table, created[name]) for name, vpc in estate.vpcs.items() for table in vpc.route_tables
    )
    assert sorted(state["routes"]) == expected_routes
    expected_rules = sorted(
        (vpc.security_groups["app"], port) for vpc in estate.vpcs.values() for port in PORTS
    )
    assert sorted(state["rules"]) == expected_rules

    for name in estate.vpcs:
        pcx = created[name]
        request = DeleteRequest(
            deployment_id=estate.deployment_id, peering_id=pcx, confirmation=pcx
        )

        async def delete(platform: PlatformClient, ec2: Ec2Gateway, r: DeleteRequest = request):
            return await delete_peering(r, platform, ec2, poll_interval=0.05)

        await until_done(sandbox, proxies, ledger, "delete", delete, rate)

    injected = proxies.injected()
    state = await read_back(sandbox, estate)
    assert state["live"] == {} and state["pending"] == []
    assert state["records"] == {}
    assert state["routes"] == [] and state["rules"] == []

    runs = sum(ledger.outcomes.values())
    report(
        f"create/delete: {runs} runs at {rate:.0%} faults, {kinds(injected)} faults injected; "
        f"outcomes: {dict(sorted(ledger.outcomes.items()))}; after the re-runs: 6 pcx, "
        f"{len(expected_routes)} routes, {len(expected_rules)} rules, then none left"
    )
    for stop in ledger.stops:
        report(f"  stopped: {stop}")


class Interrupted(Exception):
    """Stands in for the operator's ctrl+c or a dropped SSH session."""


async def test_a_delete_stopped_after_the_platform_let_go_finishes_the_cleanup_when_run_again(
    sandbox: Sandbox, platform: PlatformClient, customer: Ec2Gateway
) -> None:
    estate = await build_estate(sandbox, {"prod-data": "172.20.0.0/16"})
    vpc = estate.vpcs["prod-data"]
    request = CreateRequest(
        deployment_id=estate.deployment_id,
        vpc_id=vpc.vpc_id,
        security_groups=(vpc.security_groups["app"],),
        ports=PORTS,
    )
    pcx = (await create_peering(request, platform, customer, poll_interval=0.05)).peering_id
    delete = DeleteRequest(deployment_id=estate.deployment_id, peering_id=pcx, confirmation=pcx)

    def stop_when_gone_from_the_platform(event: Progress) -> None:
        if event.step is Step.DELETE and event.state == "done":
            raise Interrupted

    with pytest.raises(Interrupted):
        await delete_peering(
            delete,
            platform,
            customer,
            on_progress=stop_when_gone_from_the_platform,
            poll_interval=0.05,
        )
    left = await read_back(sandbox, estate)
    assert left["records"] == {} and left["live"] == {}
    assert len(left["routes"]) == 2 and len(left["rules"]) == 2, "the cleanup had not run"

    mistyped = DeleteRequest(
        deployment_id=estate.deployment_id, peering_id=pcx, confirmation=pcx[:-1]
    )
    with pytest.raises(PeeringError) as refused:
        await delete_peering(mistyped, platform, customer)
    assert refused.value.code == "DELETE_REFUSED" and "does not match" in refused.value.message
    assert await read_back(sandbox, estate) == left

    events: list[Progress] = []
    result = await delete_peering(delete, platform, customer, on_progress=events.append)
    assert len(result.routes_removed) == 2 and len(result.rules_removed) == 2
    assert {e.step for e in events if e.state == "skipped"} == {Step.GUARD, Step.DELETE}
    after = await read_back(sandbox, estate)
    assert after["routes"] == [] and after["rules"] == []

    never = "pcx-0123456789abcdef0"
    with pytest.raises(PeeringError) as unknown:
        await delete_peering(
            DeleteRequest(deployment_id=estate.deployment_id, peering_id=never, confirmation=never),
            platform,
            customer,
        )
    assert unknown.value.code == "PEERING_NOT_FOUND" and never in unknown.value.message


# --- exactly once: answers lost after AWS or the platform acted -------------------------------

LOSE_RATE = 0.15  # answers dropped after the real server acted
REFUSE_RATE = 0.15  # requests answered by the proxy with a fault, never forwarded
MAX_RUNS = 20


@pytest.mark.heavy
@pytest.mark.parametrize("seeds", [6, pytest.param(20, marks=pytest.mark.slow)])
async def test_creates_and_deletes_through_a_link_that_loses_answers_make_exactly_one_of_everything(
    sandbox: Sandbox, proxies: Proxies, seeds: int
) -> None:
    """Seeds side by side, one customer VPC each, each seed a lane of the proxies with its own
    faults: create, re-run until done, read back; then the same for delete."""
    estate = await build_estate(
        sandbox, {f"seed-{s}": f"172.{16 + s}.0.0/16" for s in range(seeds)}
    )
    ledger = Ledger()
    runs: Counter[str] = Counter()
    proxies.set_rate(REFUSE_RATE, LOSE_RATE)

    async def until_done_under_faults(seed: int, what: str, action: Any) -> Any:
        for _ in range(MAX_RUNS):
            runs[what] += 1
            result = await run_once(sandbox, proxies, ledger, what, action, lane=seed)
            if result is not None:
                return result
        raise AssertionError(f"seed {seed}: {what} did not finish in {MAX_RUNS} runs")

    async def one_seed(seed: int, vpc: CustomerVpc) -> None:
        request = CreateRequest(
            deployment_id=estate.deployment_id,
            vpc_id=vpc.vpc_id,
            security_groups=(vpc.security_groups["app"],),
            ports=PORTS,
        )

        async def create(platform: PlatformClient, ec2: Ec2Gateway) -> Any:
            return await create_peering(request, platform, ec2, poll_interval=0.05)

        pcx = (await until_done_under_faults(seed, "create", create)).peering_id
        state = await read_back(sandbox, estate)
        async with sandbox.customer_gateway() as ec2:
            every = await ec2.describe_peerings(REGION, requester_vpc_ids=[vpc.vpc_id])
        assert [p.id for p in every] == [pcx], f"seed {seed}: {len(every)} pcx requested"
        assert state["live"][pcx].status == "active"
        assert state["records"][pcx].status.value == "running"
        tables, group = set(vpc.route_tables), vpc.security_groups["app"]
        assert sorted(t for t, target in state["routes"] if t in tables) == sorted(tables)
        assert {target for t, target in state["routes"] if t in tables} == {pcx}
        assert sorted(port for g, port in state["rules"] if g == group) == sorted(PORTS)

        removal = DeleteRequest(
            deployment_id=estate.deployment_id, peering_id=pcx, confirmation=pcx
        )

        async def delete(platform: PlatformClient, ec2: Ec2Gateway) -> Any:
            return await delete_peering(removal, platform, ec2, poll_interval=0.05)

        await until_done_under_faults(seed, "delete", delete)
        state = await read_back(sandbox, estate)
        assert pcx not in state["live"] and pcx not in state["records"], f"seed {seed}"
        assert not [t for t, target in state["routes"] if target == pcx], f"seed {seed}"
        assert not [g for g, _ in state["rules"] if g == group], f"seed {seed}"

    await asyncio.gather(
        *(one_seed(seed, vpc) for seed, vpc in zip(range(seeds), estate.vpcs.values(), strict=True))
    )
    proxies.set_rate(0.0)
    async with sandbox.customer_gateway() as ec2:
        every = await ec2.describe_peerings(REGION)
    assert len(every) == seeds, "one pcx per seed, ever"
    lost = proxies.aws.lost
    platform_lost = proxies.platform.lost
    report(
        f"exactly once: {seeds} seeds, each a create then a delete through links that lose "
        f"{LOSE_RATE:.0%} of answers after the server acted and refuse {REFUSE_RATE:.0%} "
        f"before; {runs['create']} create runs, {runs['delete']} delete runs; "
        f"{kinds(proxies.injected())} faults; answers lost after acting: "
        f"CreateVpcPeeringConnection {lost['CreateVpcPeeringConnection']}, CreateRoute "
        f"{lost['CreateRoute']}, AuthorizeSecurityGroupIngress "
        f"{lost['AuthorizeSecurityGroupIngress']}, platform POST (confirm) "
        f"{sum(v for k, v in platform_lost.items() if k.startswith('POST'))}, platform DELETE "
        f"{sum(v for k, v in platform_lost.items() if k.startswith('DELETE'))}; "
        f"{len(every)} pcx requested in all: 0 duplicates"
    )
    for stop in ledger.stops:
        report(f"  stopped: {stop}")


async def test_a_pcx_request_whose_answer_is_lost_is_found_by_its_token_and_not_made_again(
    sandbox: Sandbox, proxies: Proxies
) -> None:
    estate = await build_estate(sandbox, {"prod-data": "172.20.0.0/16"})
    vpc = estate.vpcs["prod-data"]
    proxies.aws.lose_next("CreateVpcPeeringConnection")
    events: list[Progress] = []
    async with (
        platform_client(sandbox, proxies, max_attempts=ATTEMPTS) as platform,
        customer_gateway(sandbox, proxies, max_attempts=ATTEMPTS) as ec2,
    ):
        request = CreateRequest(deployment_id=estate.deployment_id, vpc_id=vpc.vpc_id)
        result = await create_peering(
            request, platform, ec2, on_progress=events.append, poll_interval=0.05
        )
        asked = ec2.calls["CreateVpcPeeringConnection"]
    assert proxies.aws.lost["CreateVpcPeeringConnection"] == 1, "AWS made it; the answer was lost"
    assert asked == 1, "found by its token, not requested again"
    async with sandbox.customer_gateway() as direct:
        every = await direct.describe_peerings(REGION, requester_vpc_ids=[vpc.vpc_id])
    assert [p.id for p in every] == [result.peering_id]
    assert every[0].tags[TAG_REQUEST_TOKEN], "the request carries its token"
    assert result.pcx_created and result.aws_status == "active"
    assert [e.message for e in events if e.step is Step.REQUEST and e.state == "done"] == [
        f"requested {result.peering_id}"
    ]


async def test_a_second_pcx_with_the_same_token_is_withdrawn_after_an_unsure_request(
    sandbox: Sandbox, proxies: Proxies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS's describes are eventually consistent: the look-up after a lost answer can miss the
    pcx AWS made, and the next attempt makes another. moto is consistent, so the miss is
    staged: a pcx with the request's token exists beforehand, as if made by that attempt."""
    estate = await build_estate(sandbox, {"prod-data": "172.20.0.0/16"})
    vpc = estate.vpcs["prod-data"]
    monkeypatch.setattr("peering_core.create.request_token", lambda: "0123456789abcdef")
    async with sandbox.client() as platform, sandbox.customer_gateway() as direct:
        info = await platform.deployment_vpc(estate.deployment_id)
        staged = await direct.create_peering(
            REGION, vpc_id=vpc.vpc_id, peer_vpc_id=info.vpc_id, peer_owner_id=info.account_id,
            tags={TAG_REQUEST_TOKEN: "0123456789abcdef"},
        )  # fmt: skip
    proxies.aws.lose_next("CreateVpcPeeringConnection")
    async with (
        platform_client(sandbox, proxies, max_attempts=ATTEMPTS) as platform,
        customer_gateway(sandbox, proxies, max_attempts=ATTEMPTS) as ec2,
    ):
        plan = await plan_create(
            CreateRequest(deployment_id=estate.deployment_id, vpc_id=vpc.vpc_id), platform, ec2
        )
        plan = plan.model_copy(update={"existing": None})  # as if the staged one were unseen
        pcx, created = await request_pcx(plan, ec2, Reporter(None))
    async with sandbox.customer_gateway() as direct:
        every = {
            p.id: p.status
            for p in await direct.describe_peerings(REGION, requester_vpc_ids=[vpc.vpc_id])
        }
    assert created and len(every) == 2
    assert [p for p, status in every.items() if status != "deleted"] == [pcx.id]
    assert staged.id == pcx.id or every[staged.id] == "deleted"


async def test_a_lost_answer_to_confirm_or_delete_on_the_platform_changes_nothing_twice(
    sandbox: Sandbox, proxies: Proxies
) -> None:
    estate = await build_estate(sandbox, {"prod-data": "172.20.0.0/16"})
    vpc = estate.vpcs["prod-data"]
    peerings = f"/api/v1/deployments/{estate.deployment_id}/peerings"
    proxies.platform.lose_next(f"POST {peerings}")
    async with (
        platform_client(sandbox, proxies, max_attempts=ATTEMPTS) as platform,
        customer_gateway(sandbox, proxies, max_attempts=ATTEMPTS) as ec2,
    ):
        request = CreateRequest(deployment_id=estate.deployment_id, vpc_id=vpc.vpc_id)
        pcx = (await create_peering(request, platform, ec2, poll_interval=0.05)).peering_id
        confirms = platform.calls[f"POST {peerings}"]
        proxies.platform.lose_next(f"DELETE {peerings}/{pcx}")
        removal = DeleteRequest(
            deployment_id=estate.deployment_id, peering_id=pcx, confirmation=pcx
        )
        result = await delete_peering(removal, platform, ec2, poll_interval=0.05)
        deletes = platform.calls[f"DELETE {peerings}/{pcx}"]
    assert proxies.platform.lost == Counter({f"POST {peerings}": 1, f"DELETE {peerings}/{pcx}": 1})
    assert confirms == 2 and deletes == 2, "both were sent again after the lost answer"
    assert len(result.routes_removed) == 2 and not result.kept
    state = await read_back(sandbox, estate)
    assert state["records"] == {} and state["live"] == {} and state["routes"] == []


async def test_a_post_that_would_make_a_second_object_is_not_repeated_after_a_lost_answer(
    sandbox: Sandbox, proxies: Proxies
) -> None:
    proxies.platform.lose_next("POST /api/v1/deployments")
    async with platform_client(sandbox, proxies, max_attempts=ATTEMPTS) as platform:
        with pytest.raises(PeeringError) as lost:
            await platform.create_deployment("factory-telemetry", REGION, DEPLOYMENT_CIDR)
        posts = platform.calls["POST /api/v1/deployments"]
        proxies.platform.set_rate(1.0)  # every request answered 429 or 503 by the proxy
        proxies.platform.faults = ("429", "503")
        with pytest.raises(PeeringError):
            await platform.create_deployment("fleet-staging", REGION, "10.203.0.0/16")
        refused = platform.calls["POST /api/v1/deployments"] - posts
    assert lost.value.code == "PLATFORM_ANSWER_LOST"
    assert "may have acted" in lost.value.message
    assert posts == 1, "not sent again: a repeat would make a second deployment"
    assert refused == ATTEMPTS, "refusals before acting are retried"
    async with sandbox.client() as direct:
        assert [d.name for d in await direct.deployments()] == ["factory-telemetry"]
