"""Shared fixtures: one real moto server per test session, a fresh real platform per test.

moto keeps its state per process, so each test resets it and builds what it needs; the
platform server runs for real (uvicorn, SQLite, background acceptance) on a loopback port.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from peering_core.aws import Ec2Gateway
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import MotoServer, Sandbox

from . import scheduling
from .cli_helpers import Cli
from .contract import check_every_answer_async
from .postgres import PostgresServer


def pytest_configure(config: pytest.Config) -> None:
    """Fewer garbage collections: a test process holds moto's and botocore's models, Textual
    and a server or two (400,000 objects), and at Python's default thresholds a full
    collection walked them all every few seconds — a fifth of the suite's CPU. Cycles are
    still collected, just in larger batches."""
    gc.set_threshold(50_000, 50, 100)


@pytest.fixture(autouse=True)
def private_audit_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test writes the operator's own audit log (tests that read it set their own path)."""
    monkeypatch.setenv("PEERING_AUDIT_LOG", str(tmp_path_factory.mktemp("audit") / "audit.jsonl"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (tests make databases of their own)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def new_database(postgres: PostgresServer) -> Callable[[], str]:
    """Make an empty PostgreSQL database; its URL."""
    count = 0

    def make() -> str:
        nonlocal count
        count += 1
        return postgres.create_database(f"t{uuid.uuid4().hex[:12]}_{count}")

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where a platform store lives, once on each backend: a SQLite file, a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("store") / "platform.sqlite3")
    make: Callable[[], str] = request.getfixturevalue("new_database")
    return make()


@pytest.fixture
def sandbox(moto_server: MotoServer) -> Iterator[Sandbox]:
    """A reset moto server and a new platform (zero acceptance delay), nothing seeded."""
    box = Sandbox.start(moto=moto_server, accept_delay=0.0)
    yield box
    box.stop()


@pytest.fixture
async def platform(sandbox: Sandbox) -> AsyncIterator[PlatformClient]:
    async with sandbox.client() as client:
        yield client


@pytest.fixture
async def customer(sandbox: Sandbox) -> AsyncIterator[Ec2Gateway]:
    async with sandbox.customer_gateway() as gateway:
        yield gateway


@pytest.fixture
async def platform_ec2(sandbox: Sandbox) -> AsyncIterator[Ec2Gateway]:
    async with sandbox.platform_gateway() as gateway:
        yield gateway


@pytest.fixture
async def estate(sandbox: Sandbox) -> SeedReport:
    """The sandbox's deployments and customer VPCs, without demo peerings."""
    return await sandbox.seed(demo=False)


@pytest.fixture
async def api(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the sandbox platform with good credentials, for status/header/body checks.
    Every answer is held to the OpenAPI document: one it does not describe fails the test."""
    async with httpx.AsyncClient(
        base_url=sandbox.platform_url,
        auth=httpx.BasicAuth(sandbox.key, sandbox.secret.get_secret_value()),
        timeout=30.0,
        event_hooks={"response": [check_every_answer_async]},
    ) as client:
        yield client


@pytest.fixture
def start_sandbox(moto_server: MotoServer) -> Iterator[Callable[..., Sandbox]]:
    """Start a sandbox with non-default platform settings (it resets moto); stopped at teardown.

    Blocking: call it through ``asyncio.to_thread`` from a test, and not next to ``sandbox``.
    """
    started: list[Sandbox] = []

    def start(**settings: Any) -> Sandbox:
        box = Sandbox.start(moto=moto_server, **settings)
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy tests first, each a unit of its own, then whole modules (see :mod:`.scheduling`)."""
    scheduling.order(items)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (``make test``) deals units as :mod:`.scheduling` says."""
    if config.getvalue("dist") == "loadgroup":
        return scheduling.HeavyFirstScheduling(config, log)
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the reliability tests measured (faults injected, runs, outcomes)."""
    from .reliability import FIGURES

    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its figures to the controller, which prints them."""
    from .reliability import FIGURES

    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["reliability_figures"] = list(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its figures for the summary."""
    from .reliability import FIGURES

    FIGURES.extend(getattr(node, "workeroutput", {}).get("reliability_figures", []))


@pytest.fixture(scope="module")
def two_accounts(moto_server: MotoServer) -> Iterator[tuple[Sandbox, SeedReport]]:
    """The sandbox with the customer's staging account (reached by its role), seeded with the
    demo in both accounts; one per module (its tests change nothing the others read)."""
    box = Sandbox.start(moto=moto_server, accept_delay=0.0, second_account=True)
    try:
        yield box, asyncio.run(box.seed())
    finally:
        box.stop()


@pytest.fixture
def seeded(sandbox: Sandbox) -> SeedReport:
    """Deployments and customer VPCs without demo peerings, for the command-line stories."""
    return asyncio.run(sandbox.seed(demo=False))


@pytest.fixture
def cli(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The real command line, in-process, with the sandbox's exports in the environment."""
    return Cli(sandbox, monkeypatch, capsys)
