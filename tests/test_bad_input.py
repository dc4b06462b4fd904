"""Careless input on the command line: exit 2, a message naming the field, nothing changed.

``test_cli_lifecycle.py`` covers bad ``create`` input (CIDRs, ids, ports, regions) and the
delete guards; this table covers the rest: usage errors argparse catches, bad or unknown ids
for ``delete``, ``diff`` and ``fix``, and a bad environment. The rows share one seeded
sandbox; after each, both AWS accounts and the platform are read back and must equal what
they were before the first row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from peering_core.create import CreateRequest, create_peering
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import MotoServer, Sandbox

from .cli_helpers import Cli
from .state import whole_state

UNKNOWN_PCX = "pcx-0123456789abcdef0"


@dataclass
class World:
    """A seeded sandbox with one running peering (prod-data ↔ factory-telemetry)."""

    sandbox: Sandbox
    report: SeedReport
    pcx: str
    read_state: Callable[[], dict[str, Any]]
    state: dict[str, Any]

    def dep(self, name: str = "factory-telemetry") -> str:
        return self.report.deployments[name].id

    def vpc(self, name: str = "prod-data") -> str:
        return self.report.vpcs[name].vpc_id


@pytest.fixture(scope="module")
def world(moto_server: MotoServer) -> Iterator[World]:
    """Shared by every row: the rows only read, and each proves it changed nothing.

    One event loop for the module keeps the read-back clients open between rows.
    """
    box = Sandbox.start(moto=moto_server, accept_delay=0.0)
    readers = contextlib.AsyncExitStack()

    async def build() -> tuple[SeedReport, str]:
        report = await box.seed(demo=False)
        request = CreateRequest(
            deployment_id=report.deployments["factory-telemetry"].id,
            vpc_id=report.vpcs["prod-data"].vpc_id,
        )
        async with box.client() as platform, box.customer_gateway() as ec2:
            result = await create_peering(request, platform, ec2, poll_interval=0.05)
        return report, result.peering_id

    async def open_readers() -> Callable[[], Awaitable[dict[str, Any]]]:
        client = await readers.enter_async_context(box.client())
        customer = await readers.enter_async_context(box.customer_gateway())
        platform_ec2 = await readers.enter_async_context(box.platform_gateway())
        return lambda: whole_state(client, customer, platform_ec2)

    try:
        with asyncio.Runner() as runner:
            report, pcx = runner.run(build())
            read = runner.run(open_readers())

            def read_state() -> dict[str, Any]:
                return runner.run(read())

            yield World(box, report, pcx, read_state, read_state())
            runner.run(readers.aclose())
    finally:
        box.stop()


Args = Callable[[World], list[str]]
# (story, arguments, environment changes, words the message must contain)
BAD_INPUT: list[tuple[str, Args, dict[str, str], list[str]]] = [
    # Usage errors, caught by argparse before anything is read.
    ("create without --vpc-id", lambda w: ["create", w.dep(), "--yes"], {}, ["--vpc-id"]),
    ("create with --port and no value",
     lambda w: ["create", w.dep(), "--vpc-id", w.vpc(), "--port"], {}, ["--port"]),
    ("delete without --confirm", lambda w: ["delete", w.dep(), w.pcx], {}, ["--confirm"]),
    ("delete without the pcx", lambda w: ["delete", w.dep(), "--confirm", w.pcx], {}, ["PCX"]),
    ("an unknown flag", lambda w: ["delete", w.dep(), w.pcx, "--confirm", w.pcx, "--force"], {},
     ["--force"]),
    ("diff without arguments", lambda w: ["diff"], {}, ["DEPLOYMENT PCX", "--all"]),
    ("diff with a deployment only", lambda w: ["diff", w.dep()], {}, ["DEPLOYMENT PCX", "--all"]),
    ("fix without the pcx", lambda w: ["fix", w.dep(), "--dry-run"], {}, ["PCX"]),
    ("an unknown command", lambda w: ["peer", w.dep()], {}, ["peer", "invalid choice"]),
    ("a refresh that is not a number", lambda w: ["--refresh", "soon"], {}, ["--refresh", "soon"]),
    # Bad or unknown ids, caught before any change.
    ("delete of a malformed pcx",
     lambda w: ["delete", w.dep(), "PCX-1234", "--confirm", "PCX-1234"], {}, ["PCX", "PCX-1234"]),
    ("delete of a pcx the platform never saw",
     lambda w: ["delete", w.dep(), UNKNOWN_PCX, "--confirm", UNKNOWN_PCX], {},
     ["PEERING_NOT_FOUND", UNKNOWN_PCX]),
    ("delete on an unknown deployment", lambda w: ["delete", "dnothere", w.pcx, "--confirm", w.pcx],
     {}, ["DEPLOYMENT_NOT_FOUND", "dnothere"]),
    ("delete of a pcx under another deployment", lambda w: ["delete", w.dep("fleet-staging"), w.pcx,
     "--confirm", w.pcx], {}, ["PEERING_NOT_FOUND", "pcx-"]),
    ("diff of a malformed pcx", lambda w: ["diff", w.dep(), "pcx-oops"], {}, ["PCX", "pcx-oops"]),
    ("diff of an unknown pcx", lambda w: ["diff", w.dep(), UNKNOWN_PCX], {},
     ["PEERING_NOT_FOUND", UNKNOWN_PCX]),
    ("diff on an unknown deployment", lambda w: ["diff", "dnothere", w.pcx], {},
     ["DEPLOYMENT_NOT_FOUND", "dnothere"]),
    ("diff of a pcx under another deployment",
     lambda w: ["diff", w.dep("fleet-staging"), w.pcx], {},
     ["PEERING_WRONG_DEPLOYMENT", "pcx-", "not with deployment"]),
    ("fix of a malformed pcx", lambda w: ["fix", w.dep(), "not-a-pcx", "--yes"], {},
     ["PCX", "not-a-pcx"]),
    ("fix of an unknown pcx", lambda w: ["fix", w.dep(), UNKNOWN_PCX, "--yes"], {},
     ["PEERING_NOT_FOUND", UNKNOWN_PCX]),
    ("fix on an unknown deployment", lambda w: ["fix", "dnothere", w.pcx, "--dry-run"], {},
     ["DEPLOYMENT_NOT_FOUND", "dnothere"]),
    ("ls of an unknown deployment", lambda w: ["ls", "--deployment", "dnothere"], {},
     ["DEPLOYMENT_NOT_FOUND", "dnothere"]),
    ("create with an empty --vpc-id", lambda w: ["create", w.dep(), "--vpc-id", "", "--yes"], {},
     ["--vpc-id"]),
    # A bad environment.
    ("PEERING_INSECURE that is not a boolean", lambda w: ["ls"], {"PEERING_INSECURE": "maybe"},
     ["CONFIG", "PEERING_INSECURE"]),
    ("a platform URL that is not http", lambda w: ["ls"],
     {"PEERING_PLATFORM_URL": "ftp://platform.example.com"}, ["CONFIG", "PEERING_PLATFORM_URL"]),
    ("a platform URL with credentials in it", lambda w: ["diff", "--all"],
     {"PEERING_PLATFORM_URL": "https://key:hunter2@platform.example.com"},
     ["CONFIG", "PEERING_PLATFORM_SECRET"]),
]  # fmt: skip


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(world.sandbox, monkeypatch, capsys)


@pytest.mark.parametrize(
    ("story", "make_args", "env", "words"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT]
)
def test_bad_input_exits_2_names_the_field_and_changes_nothing(
    cli: Cli,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    story: str,
    make_args: Args,
    env: dict[str, str],
    words: list[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli(*make_args(world))
    assert result.code == 2, (story, result.out, result.err)
    for word in words:
        assert word in result.err, (story, word, result.err)
    assert "Traceback" not in result.err
    assert world.read_state() == world.state, story


def test_json_errors_carry_the_code_and_the_exit_code(cli: Cli, world: World) -> None:
    result = cli("diff", world.dep(), UNKNOWN_PCX, "--json")
    assert result.code == 2
    error = result.json["error"]
    assert (error["code"], error["exitCode"]) == ("PEERING_NOT_FOUND", 2)
    assert UNKNOWN_PCX in error["message"]
    assert world.read_state() == world.state
