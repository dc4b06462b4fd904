"""Secrets stay secret: every command, every failure, every log, searched for a canary.

The platform runs as the real ``peering-tui platform serve`` process with a canary API secret
(and a canary for its own AWS secret key); the operator's commands run as real ``peering-tui``
processes with that canary and the customer's STS credentials in their environment. Whatever
any of them writes — stdout, stderr, ``--json`` output, the audit log, the platform's log, the
dashboard's screen — must not contain the canary, a wrong secret the operator typed, or the
customer's AWS secret key and session token.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from peering_core.aws import AwsAccess, Ec2Gateway
from peering_core.config import Connection
from peering_core.create import CreateRequest, create_peering
from peering_core.platform.ec2 import PlatformEc2
from peering_core.platform_client import PlatformClient
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID, EstateBuilder, build_customer_vpc
from peering_core.sandbox.servers import MotoServer
from tui.app import PeeringApp

from .platform_process import platform_process
from .reliability import report
from .tui.helpers import wait_for, wait_for_fleet

BIN = Path(sys.executable).parent
REGION = "us-east-1"
KEY = "canary-key"
CANARY = "canary-s3cr3t-7f1d9a4e2b"
WRONG = "canary-wr0ng-5c8e0b3a91"
PLATFORM_AWS_SECRET = "canary-platform-aws-3e9b7c"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything that points at a real AWS or platform."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PEERING_"))}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=REGION,
    )
    return env


@dataclass
class CanaryPlatform:
    """``peering-tui platform serve`` with the canary secret, logging to a file."""

    url: str
    log: Path
    moto: MotoServer

    def client(self) -> PlatformClient:
        return PlatformClient(self.url, KEY, SecretStr(CANARY))


@pytest.fixture
async def canary_platform(moto_server: MotoServer, tmp_path: Path) -> AsyncIterator[CanaryPlatform]:
    moto_server.reset()
    port = _free_port()
    log = tmp_path / "platform.log"
    env = _clean_environment() | {
        "PEERING_PLATFORM_KEY": KEY,
        "PEERING_PLATFORM_SECRET": CANARY,
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "sandbox-platform",
        "AWS_SECRET_ACCESS_KEY": PLATFORM_AWS_SECRET,
    }
    url = f"http://127.0.0.1:{port}"
    args = ["--port", str(port), "--db", str(tmp_path / "platform.sqlite3")]
    async with platform_process(args, env=env, log=log, url=url):
        yield CanaryPlatform(url, log, moto_server)


@dataclass
class Transcript:
    """Everything the operator's commands wrote, and where."""

    env: dict[str, str]
    audit_log: Path
    written: list[tuple[str, str]] = field(default_factory=list)

    async def run(self, *args: str, **env: str) -> tuple[int, str, str]:
        """``peering-tui ARGS`` with the operator's environment (plus ``env``), no terminal."""
        process = await asyncio.create_subprocess_exec(
            str(BIN / "peering-tui"), *args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env | env,
        )  # fmt: skip
        out, err = await process.communicate()
        text_out, text_err = out.decode(errors="replace"), err.decode(errors="replace")
        what = " ".join(args)
        self.written += [(f"{what} (stdout)", text_out), (f"{what} (stderr)", text_err)]
        assert process.returncode is not None
        return process.returncode, text_out, text_err


@pytest.fixture
async def operator(canary_platform: CanaryPlatform, tmp_path: Path) -> AsyncIterator[Transcript]:
    """The operator's shell: the platform's URL, key and canary secret, the customer's keys."""
    platform_aws = AwsAccess(
        access_key_id="sandbox-platform",
        secret_access_key=SecretStr(PLATFORM_AWS_SECRET),
        endpoint_url=canary_platform.moto.url,
    )
    async with PlatformEc2(platform_aws) as sts:
        customer = await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "secrets-test"
        )
    assert customer.secret_access_key is not None and customer.session_token is not None
    audit_log = tmp_path / "audit.jsonl"
    env = _clean_environment() | {
        "PEERING_CONFIG": str(tmp_path / "no-config.toml"),
        "PEERING_AUDIT_LOG": str(audit_log),
        "PEERING_PLATFORM_URL": canary_platform.url,
        "PEERING_PLATFORM_KEY": KEY,
        "PEERING_PLATFORM_SECRET": CANARY,
        "AWS_ENDPOINT_URL": canary_platform.moto.url,
        "AWS_ACCESS_KEY_ID": customer.access_key_id or "",
        "AWS_SECRET_ACCESS_KEY": customer.secret_access_key.get_secret_value(),
        "AWS_SESSION_TOKEN": customer.session_token.get_secret_value(),
    }
    yield Transcript(env, audit_log)


@pytest.fixture
def secrets_to_hide(operator: Transcript) -> Iterator[dict[str, str]]:
    yield {
        "platform secret": CANARY,
        "wrong secret the operator typed": WRONG,
        "platform's AWS secret key": PLATFORM_AWS_SECRET,
        "customer's AWS secret key": operator.env["AWS_SECRET_ACCESS_KEY"],
        "customer's AWS session token": operator.env["AWS_SESSION_TOKEN"],
    }


@pytest.mark.heavy
async def test_no_command_output_audit_record_or_platform_log_carries_a_secret(
    canary_platform: CanaryPlatform,
    operator: Transcript,
    secrets_to_hide: dict[str, str],
    tmp_path: Path,
) -> None:
    async with canary_platform.client() as platform:
        deployment = (
            await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
        ).id
    customer_access = AwsAccess(
        access_key_id=operator.env["AWS_ACCESS_KEY_ID"],
        secret_access_key=SecretStr(operator.env["AWS_SECRET_ACCESS_KEY"]),
        session_token=SecretStr(operator.env["AWS_SESSION_TOKEN"]),
        endpoint_url=canary_platform.moto.url,
    )
    async with EstateBuilder(customer_access) as customer:
        prod, analytics = await asyncio.gather(
            build_customer_vpc(customer, "prod-data", REGION, "172.20.0.0/16"),
            build_customer_vpc(customer, "analytics", REGION, "172.21.0.0/16"),
        )
    run = operator.run

    # The working day: list, create (words and JSON), diff, drift, fix, delete.
    assert [c for c, _, _ in await asyncio.gather(run("ls"), run("ls", "--json"))] == [0, 0]
    (code, _, err), (json_code, out, json_err) = await asyncio.gather(
        run("create", deployment, "--vpc-id", prod.vpc_id, "--yes"),
        run("create", deployment, "--vpc-id", analytics.vpc_id, "--yes", "--json"),
    )
    assert (code, json_code) == (0, 0), err + json_err
    pcx = json.loads(out)["result"]["peeringId"]
    async with Ec2Gateway(customer_access) as customer:
        await customer.delete_route(REGION, analytics.route_tables[0], "10.200.0.0/16")
    looks = await asyncio.gather(
        run("diff", deployment, pcx),
        run("diff", deployment, pcx, "--json"),
        run("diff", "--all"),
        run("diff", "--all", "--json"),
        run("fix", deployment, pcx, "--dry-run"),
        run("fix", deployment, pcx, "--dry-run", "--json"),
    )
    assert [c for c, _, _ in looks] == [2] * 6, "drift found"
    assert (await run("fix", deployment, pcx, "--yes", "--json"))[0] == 0
    assert (await run("delete", deployment, pcx, "--confirm", pcx))[0] == 0
    listed = await run("ls", "--json")
    assert listed[0] == 0 and '"platformStatus": "running"' in listed[1]

    # The bad days, side by side: wrong secret, unreachable platform, careless input.
    unreachable = f"http://127.0.0.1:{_free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(f'platform_url = "{canary_platform.url}"\nplatform_secret = "{CANARY}"\n')
    config.chmod(0o644)
    broken = tmp_path / "broken.toml"
    broken.write_text(f'platform_secret = "{CANARY}\nplatform_key = [\n')
    with_credentials = unreachable.replace("//", f"//{KEY}:{CANARY}@")
    wrong = {"PEERING_PLATFORM_SECRET": WRONG}
    careless: list[tuple[int, tuple[str, ...], dict[str, str]]] = [
        # (exit code, arguments, environment changes)
        (1, ("ls",), {"PEERING_PLATFORM_URL": unreachable}),
        (1, ("diff", "--all", "--json"), {"PEERING_PLATFORM_URL": unreachable}),
        (2, ("ls", "--json"), {"PEERING_PLATFORM_URL": with_credentials}),
        (2, ("ls",), {"PEERING_PLATFORM_URL": f"ftp://{KEY}:{CANARY}@example.com"}),
        (2, ("ls", "--json"), {"PEERING_PLATFORM_SECRET": "", "PEERING_CONFIG": str(config)}),
        (2, ("ls",), {"PEERING_CONFIG": str(broken)}),
        (2, ("ls",), {"PEERING_INSECURE": "maybe"}),
        (2, ("create", deployment, "--vpc-id", "vpc-NOPE", "--yes", "--json"), {}),
        (2, ("create", deployment, "--vpc-id", prod.vpc_id, "--port", "mqtt", "--yes"), {}),
        (2, ("create", deployment, "--vpc-id", prod.vpc_id), {}),
        (2, ("delete", deployment, "pcx-oops", "--confirm", "pcx-oops"), {}),
        (2, ("diff", deployment, "pcx-0123456789abcdef0", "--json"), {}),
        (2, ("fix", deployment, "not-a-pcx", "--dry-run"), {}),
        (2, ("create", deployment), {}),
        (2, ("ls", "--secret", "x"), {}),
        # Last: a dozen bad logins lock this address out for a minute, good ones included.
        (1, ("ls",), wrong),
        (1, ("ls", "--json"), wrong),
        (1, ("create", deployment, "--vpc-id", prod.vpc_id, "--yes"), wrong),
        (1, ("delete", deployment, pcx, "--confirm", pcx, "--json"), wrong),
    ]
    ended = await asyncio.gather(*(run(*args, **env) for _, args, env in careless[:-4]))
    ended += await asyncio.gather(*(run(*args, **env) for _, args, env in careless[-4:]))
    assert [code for code, _, _ in ended] == [code for code, _, _ in careless], [
        (args, err) for (_, args, _), (_, _, err) in zip(careless, ended, strict=True)
    ]

    runs = len(operator.written) // 2  # stdout and stderr of each
    operator.written.append(("audit log", operator.audit_log.read_text()))
    operator.written.append(("platform log", canary_platform.log.read_text(errors="replace")))
    assert '"action": "create"' in operator.written[-2][1], "the audit log was written"
    assert "GET /api/v1/peerings" in operator.written[-1][1], "the platform logged requests"
    leaks = [
        f"{secret_name} in {where}"
        for where, text in operator.written
        for secret_name, secret in secrets_to_hide.items()
        if secret in text
    ]
    assert not leaks, "\n".join(leaks)
    report(
        f"secrets: {runs} peering-tui runs ({runs - len(careless)} working, {len(careless)} "
        f"failing), their stdout and stderr, the audit log and the platform's log searched "
        f"for {len(secrets_to_hide)} secrets: {len(leaks)} found"
    )


# --- the dashboard ------------------------------------------------------------------------


def _dashboard(canary_platform: CanaryPlatform, operator: Transcript, secret: str) -> PeeringApp:
    """The dashboard as the operator's shell would open it, with ``secret`` for the platform."""
    env = operator.env
    return PeeringApp(
        connection=Connection(
            platform_url=canary_platform.url,
            platform_key=KEY,
            platform_secret=SecretStr(secret),
            aws=AwsAccess(
                access_key_id=env["AWS_ACCESS_KEY_ID"],
                secret_access_key=SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
                session_token=SecretStr(env["AWS_SESSION_TOKEN"]),
                endpoint_url=canary_platform.moto.url,
            ),
        ),
        refresh=30.0,
    )


async def test_the_dashboard_shows_no_secret_on_a_good_day_or_a_bad_one(
    canary_platform: CanaryPlatform, operator: Transcript, secrets_to_hide: dict[str, str]
) -> None:
    env = operator.env
    customer_access = AwsAccess(
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
        session_token=SecretStr(env["AWS_SESSION_TOKEN"]),
        endpoint_url=canary_platform.moto.url,
    )
    async with canary_platform.client() as platform, EstateBuilder(customer_access) as customer:
        deployment = await platform.create_deployment("factory-telemetry", REGION, "10.200.0.0/16")
        vpc = await build_customer_vpc(customer, "prod-data", REGION, "172.20.0.0/16")
        request = CreateRequest(deployment_id=deployment.id, vpc_id=vpc.vpc_id)
        pcx = (await create_peering(request, platform, customer, poll_interval=0.05)).peering_id

    screens: dict[str, str] = {}
    good = _dashboard(canary_platform, operator, CANARY)
    async with good.run_test(size=(160, 50)) as pilot:
        await wait_for_fleet(pilot, 1)
        screens["main screen"] = good.export_screenshot()
        assert pcx in screens["main screen"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: good.screen is not good.main_screen, what="the detail")
        screens["peering detail"] = good.export_screenshot()

    bad = _dashboard(canary_platform, operator, WRONG)
    async with bad.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: "platform" in bad.failing_sources, what="a stale platform")
        screens["main screen, wrong secret"] = bad.export_screenshot()
        said = " ".join(f"{n.title} {n.message}" for n in bad._notifications)
        assert "UNAUTHORIZED" in said

    leaks = [
        f"{secret_name} on the {where}"
        for where, svg in screens.items()
        for secret_name, secret in secrets_to_hide.items()
        if secret in svg or secret in html.unescape(svg)
    ]
    assert not leaks, "\n".join(leaks)
