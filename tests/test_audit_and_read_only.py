"""Mutating actions are audited, and --read-only refuses them all."""

from __future__ import annotations

import stat

from peering_core.audit import read_audit
from peering_core.sandbox.seed import CUSTOMER_ACCOUNT_ID


def test_every_mutating_action_is_audited_with_who_what_target_and_result(cli, sandbox, seeded):
    dep = seeded.deployments["factory-telemetry"].id
    vpc = seeded.vpcs["prod-data"].vpc_id
    created = cli("create", dep, "--vpc-id", vpc, "--yes", "--json")
    pcx = created.json["result"]["peeringId"]
    assert cli("delete", dep, pcx, "--confirm", "wrong", "--json").code == 3
    assert cli("delete", dep, pcx, "--confirm", pcx, "--keep-routes").code == 0
    assert cli("fix", dep, pcx, "--yes", "--revoke").code == 0

    records = read_audit(cli.audit_log)
    assert [(r["action"], r["result"].split(":")[0]) for r in records] == [
        ("create", "ok"),
        ("delete", "refused"),
        ("delete", "ok"),
        ("fix", "ok"),
    ]
    for record in records:
        assert record["who"]["awsAccount"] == CUSTOMER_ACCOUNT_ID
        assert record["who"]["platformKey"] == sandbox.key
        assert record["target"]["deploymentID"] == dep
        assert record["at"]
    assert records[0]["target"]["vpcId"] == vpc
    assert records[0]["detail"]["peeringId"] == pcx
    assert "does not match" in records[1]["detail"]["message"]
    assert any("revoke-security-group-ingress" in a for a in records[3]["detail"]["actions"])
    assert stat.S_IMODE(cli.audit_log.stat().st_mode) == 0o600
    text = cli.audit_log.read_text()
    assert sandbox.secret.get_secret_value() not in text
    assert sandbox.customer_aws.secret_access_key.get_secret_value() not in text


def test_read_only_refuses_every_mutating_command_and_changes_nothing(cli, seeded, monkeypatch):
    dep = seeded.deployments["factory-telemetry"].id
    vpc = seeded.vpcs["prod-data"].vpc_id
    pcx = cli("create", dep, "--vpc-id", vpc, "--yes", "--json").json["result"]["peeringId"]
    before = cli.state()
    for args in (
        ["create", dep, "--vpc-id", vpc, "--yes"],
        ["delete", dep, pcx, "--confirm", pcx],
        ["fix", dep, pcx, "--yes"],
    ):
        result = cli(*args, "--read-only", "--json")
        assert result.code == 3, args
        assert result.json["error"]["code"] == "READ_ONLY"
    monkeypatch.setenv("PEERING_READ_ONLY", "1")
    assert cli("delete", dep, pcx, "--confirm", pcx).code == 3
    # Reading stays allowed.
    assert cli("ls", "--json").code == 0
    assert cli("diff", dep, pcx).code == 0
    assert cli("fix", dep, pcx, "--dry-run").code == 0
    assert cli.state() == before


def test_read_only_before_the_command_counts_too(cli, seeded):
    dep = seeded.deployments["factory-telemetry"].id
    before = cli.state()
    result = cli("--read-only", "create", dep, "--vpc-id", seeded.vpcs["prod-data"].vpc_id, "--yes")
    assert result.code == 3
    assert "read-only" in result.err
    assert cli.state() == before
