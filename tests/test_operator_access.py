"""The operator's side of tenants and keys: ``whoami`` asked once, a viewer key refused before
any AWS call, the admin's TENANT column, a safe terminal, and an audit log checked first."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from peering_core.models import NewApiKey, Role
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli


def key_of(sandbox: Sandbox, report: SeedReport, tenant: str, role: Role) -> NewApiKey:
    async def make() -> NewApiKey:
        async with sandbox.client() as admin:
            return await admin.create_key(report.tenants[tenant].id, role)

    return asyncio.run(make())


def act_as(monkeypatch: pytest.MonkeyPatch, key: NewApiKey) -> None:
    monkeypatch.setenv("PEERING_PLATFORM_KEY", key.key)
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", key.secret.get_secret_value())


def test_a_viewer_key_refuses_create_delete_and_fix_before_any_aws_call(
    cli: Cli, seeded: SeedReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    act_as(monkeypatch, key_of(cli.sandbox, seeded, "acme", Role.VIEWER))
    before = cli.state()
    pcx = "pcx-0123456789abcdef0"
    for args in (
        ("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes"),
        ("delete", dep.id, pcx, "--confirm", pcx),
        ("fix", dep.id, pcx, "--yes"),
    ):
        refused = cli(*args, "--json")
        assert refused.code == 3, refused.out
        assert refused.json["error"]["code"] == "FORBIDDEN"
        assert "viewer key" in refused.json["error"]["message"]
    assert cli.state() == before
    assert not cli.audit_log.exists() or cli.audit_log.read_text() == ""
    listed = cli("ls", "--json")
    assert listed.code == 0
    assert {d["deploymentName"] for d in listed.json["deployments"]} == {
        "factory-telemetry",
        "fleet-staging",
        "eu-connected-cars",
    }


def test_the_admin_sees_a_tenant_column_and_filters_by_tenant_an_operator_sees_its_own(
    cli: Cli, seeded: SeedReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = cli("ls")
    assert admin.code == 0
    header = admin.out.splitlines()[1].split()
    assert header[0] == "TENANT"
    rows = {line.split()[2]: line.split()[0] for line in admin.out.splitlines()[2:6]}
    assert rows == {
        "factory-telemetry": "acme",
        "fleet-staging": "acme",
        "eu-connected-cars": "acme",
        "apac-sensors": "globex",
    }
    only = cli("ls", "--tenant", "globex", "--json")
    assert [d["deploymentName"] for d in only.json["deployments"]] == ["apac-sensors"]
    assert only.json["deployments"][0]["tenantId"] == seeded.tenants["globex"].id
    by_id = cli("ls", "--tenant", seeded.tenants["globex"].id, "--json")
    assert by_id.json["deployments"] == only.json["deployments"]

    act_as(monkeypatch, key_of(cli.sandbox, seeded, "globex", Role.OPERATOR))
    operator = cli("ls")
    assert operator.code == 0 and "TENANT" not in operator.out
    assert "apac-sensors" in operator.out and "factory-telemetry" not in operator.out
    refused = cli("ls", "--tenant", "acme", "--json")
    assert refused.code == 2 and refused.json["error"]["code"] == "FORBIDDEN"


def test_an_escape_sequence_in_a_platform_name_reaches_the_terminal_escaped(
    cli: Cli, seeded: SeedReport
) -> None:
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    created = cli("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes", "--json")
    assert created.code == 0, created.err
    pcx = created.json["result"]["peeringId"]
    hostile = "orders\x1b[2J\x1b]0;pwned\x07db"
    # A record from before the platform refused such names, straight into its store.
    db = sqlite3.connect(cli.sandbox.platform.db_path)
    with db:
        db.execute(
            "INSERT INTO resources (id, deployment_id, name, type, host, port, create_at, "
            "tenant_id) VALUES ('r0hostile', ?, ?, 'postgresql', ?, 5432, "
            "'2026-12-01T00:00:00+00:00', ?)",
            (dep.id, hostile, vpc.interfaces["orders-db"], dep.tenant_id),
        )
    db.close()

    refused = cli("delete", dep.id, pcx, "--confirm", pcx)
    assert refused.code == 3
    assert "\x1b" not in refused.err and "\x07" not in refused.err
    assert "orders\\x1b[2J\\x1b]0;pwned\\x07db" in refused.err
    as_json = cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert "\x1b" not in as_json.out and hostile in as_json.json["error"]["message"]


def test_an_audit_log_that_cannot_be_written_stops_a_change_before_it_starts(
    cli: Cli, seeded: SeedReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dep = seeded.deployments["factory-telemetry"]
    vpc = seeded.vpcs["prod-data"]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("PEERING_AUDIT_LOG", str(blocker / "audit.jsonl"))
    before = cli.state()
    refused = cli("create", dep.id, "--vpc-id", vpc.vpc_id, "--yes", "--json")
    assert refused.code == 1
    assert refused.json["error"]["code"] == "AUDIT_LOG_UNWRITABLE"
    assert str(blocker) in refused.json["error"]["message"]
    assert cli.state() == before


def test_an_existing_audit_log_open_to_others_is_made_private(
    cli: Cli, seeded: SeedReport, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text("")
    log.chmod(0o644)
    monkeypatch.setenv("PEERING_AUDIT_LOG", str(log))
    dep = seeded.deployments["factory-telemetry"]
    pcx = "pcx-0123456789abcdef0"
    cli("delete", dep.id, pcx, "--confirm", pcx, "--json")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
