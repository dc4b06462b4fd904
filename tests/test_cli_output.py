"""What the command line prints (issue 17, the smaller points): one timestamp format in JSON,
no traceback when the reader of stdout leaves, every pcx in ``diff --all``, and a sandbox that
does not show its demo's intended failure as an error."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from peering_core.sandbox.servers import Sandbox

BIN = Path(sys.executable).parent
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def timestamps(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, text) whose key says it is a time."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += timestamps(v, k)
    elif isinstance(value, list):
        for v in value:
            found += timestamps(v, key)
    elif isinstance(value, str) and key.endswith(("At", "Since")):
        found.append((key, value))
    return found


def test_ls_json_writes_every_timestamp_one_way(cli, sandbox, seeded):
    # Issue 17 (8): takenAt read "2026-12-04 19:51:04+00:00" beside "…T…Z" elsewhere.
    created = cli("create", seeded.deployments["factory-telemetry"].id, "--vpc-id",
                  seeded.vpcs["prod-data"].vpc_id, "--yes")  # fmt: skip
    assert created.code == 0, created.err
    listed = cli("ls", "--json")
    assert listed.code == 0
    found = timestamps(listed.json)
    assert {k for k, _ in found} >= {"takenAt", "createAt", "createdAt", "fetchedAt"}
    assert all(ISO_Z.match(v) for _, v in found), found


def test_diff_all_lists_pending_and_rejected_pcxs_too(cli, sandbox, seeded):
    # Issue 17 (8): a pcx requested but never confirmed, or rejected, was left out of
    # `diff --all` although the README says it covers every pcx AWS still shows.
    dep = seeded.deployments["factory-telemetry"]

    async def request(vpc: str, reject: bool) -> str:
        async with sandbox.client() as platform, sandbox.customer_gateway() as customer:
            info = await platform.deployment_vpc(dep.id)
            pcx = await customer.create_peering(
                "us-east-1", vpc_id=seeded.vpcs[vpc].vpc_id, peer_vpc_id=info.vpc_id,
                peer_owner_id=info.account_id,
            )  # fmt: skip
        if reject:
            async with sandbox.platform_gateway() as platform_ec2:
                await platform_ec2.reject_peering("us-east-1", pcx.id)
        return pcx.id

    pending = asyncio.run(request("prod-data", reject=False))
    rejected = asyncio.run(request("analytics", reject=True))
    result = cli("diff", "--all", "--json")
    assert result.code == 0, result.out
    by_id = {p["peeringId"]: p for p in result.json["peerings"]}
    assert by_id[pending]["status"] == "pending-acceptance"
    assert by_id[rejected]["status"] == "rejected"
    assert "nothing routes through it" in by_id[pending]["notes"][0]
    assert pending in cli("diff", "--all").out


def test_a_reader_that_leaves_gets_no_traceback(sandbox, seeded):
    # Issue 17 (8): `peering-tui fix … --json | head` ended in a BrokenPipeError traceback.
    env = os.environ | sandbox.environment() | {"PEERING_CONFIG": "/nonexistent.toml"}
    proc = subprocess.Popen(
        [str(BIN / "peering-tui"), "ls", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first byte
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_the_sandbox_says_its_demo_failure_is_on_purpose(sandbox: Sandbox, capfd):
    # Issue 17 (8): the seeded failed peering's platform warning landed on stderr as if the
    # sandbox itself had failed; the platform's log now goes to a file in the sandbox's dir.
    capfd.readouterr()
    asyncio.run(sandbox.seed())
    assert "CIDR overlap" not in capfd.readouterr().err
    assert sandbox.workdir is not None
    log = (sandbox.workdir / "platform.log").read_text()
    assert "CIDR overlap" in log
