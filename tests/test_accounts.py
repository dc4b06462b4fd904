"""Every customer account in one view: two accounts on the moto server (prod by the standard
chain, staging by assuming a role) and a third that fails (an SSO profile whose token is gone).

The command line runs for real, in-process, with a config file of ``[[accounts]]``; what it
changes is read back in both accounts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peering_core.aws import Ec2Gateway
from peering_core.config import load_connection
from peering_core.errors import ConfigError
from peering_core.sandbox.seed import (
    CUSTOMER_ACCOUNT_ID,
    STAGING_ACCOUNT_ID,
    STAGING_ROLE_ARN,
    SeedReport,
    build_customer_vpc,
)
from peering_core.sandbox.servers import Sandbox

from .cli_helpers import Cli
from .expired_sso import use_expired_sso_profile
from .state import aws_state

ACCOUNTS = f"""
[[accounts]]
name = "prod"

[[accounts]]
name = "staging"
role_arn = "{STAGING_ROLE_ARN}"
session_name = "peering-tests"

[[accounts]]
name = "legacy"
profile = "legacy-admin"
"""


@pytest.fixture
def accounts_cli(
    two_accounts: tuple[Sandbox, SeedReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """``peering-tui`` with prod, staging and legacy configured."""
    cli = Cli(two_accounts[0], monkeypatch, capsys)
    config = tmp_path / "config.toml"
    config.write_text(ACCOUNTS)
    monkeypatch.setenv("PEERING_CONFIG", str(config))
    use_expired_sso_profile(tmp_path, monkeypatch)
    return cli


def by_pcx(payload: dict) -> dict[str, dict]:
    return {p["peeringId"]: p for p in payload["peerings"]}


def test_ls_lists_both_accounts_and_names_the_one_that_failed(accounts_cli, two_accounts):
    _box, report = two_accounts
    result = accounts_cli("ls", "--json")
    assert result.code == 1, result.err
    payload = result.json
    rows = by_pcx(payload)

    healthy_prod = rows[report.peerings["prod-data->factory-telemetry"]]
    assert (healthy_prod["account"], healthy_prod["requesterAccountId"]) == (
        "prod",
        CUSTOMER_ACCOUNT_ID,
    )
    assert healthy_prod["health"] == "ok"
    healthy_staging = rows[report.peerings["staging-app->factory-telemetry"]]
    assert (healthy_staging["account"], healthy_staging["requesterAccountId"]) == (
        "staging",
        STAGING_ACCOUNT_ID,
    )
    assert healthy_staging["health"] == "ok", healthy_staging["problems"]
    drifted = rows[report.peerings["staging-tools->fleet-staging"]]
    assert drifted["account"] == "staging" and drifted["health"] == "error"  # no route: no traffic
    assert any("route" in p for p in drifted["problems"])
    unconfirmed = rows[report.peerings["staging-eu->eu-connected-cars"]]
    assert unconfirmed["account"] == "staging" and unconfirmed["platformStatus"] is None

    accounts = {a["name"]: a for a in payload["accounts"]}
    assert accounts["prod"]["ok"] and accounts["prod"]["accountId"] == CUSTOMER_ACCOUNT_ID
    assert accounts["staging"]["ok"] and accounts["staging"]["accountId"] == STAGING_ACCOUNT_ID
    legacy = accounts["legacy"]
    assert not legacy["ok"] and legacy["accountId"] is None
    assert "SSO" in legacy["error"] or "sso" in legacy["error"]
    assert legacy["fix"] == "run `aws sso login --profile legacy-admin`"
    assert payload["failedAccounts"] == ["legacy"]
    assert "legacy" in result.err


def test_ls_text_shows_the_account_column_and_the_fix(accounts_cli, two_accounts):
    result = accounts_cli("ls")
    assert result.code == 1
    header = next(line for line in result.out.splitlines() if " PCX " in line)
    assert "ACCOUNT" in header
    assert "! account legacy (profile legacy-admin) could not be read" in result.out
    assert "fix: run `aws sso login --profile legacy-admin`" in result.out

    only_staging = accounts_cli("ls", "--json", "--account", "staging").json
    assert {p["account"] for p in only_staging["peerings"]} == {"staging"}
    unknown = accounts_cli("ls", "--account", "nope")
    assert unknown.code == 2 and "prod, staging, legacy" in unknown.err + unknown.out


def test_a_peering_of_an_account_not_configured_says_so_with_its_id(
    accounts_cli, two_accounts, tmp_path
):
    _box, report = two_accounts
    (tmp_path / "config.toml").write_text('[[accounts]]\nname = "prod"\n')
    result = accounts_cli("ls", "--json")
    assert result.code == 0, result.out
    row = by_pcx(result.json)[report.peerings["staging-tools->fleet-staging"]]
    assert row["account"] == "not configured"
    assert row["health"] == "warning"
    assert STAGING_ACCOUNT_ID in row["problems"][0]
    assert row["problems"][0].startswith("account not configured")


def test_diff_and_fix_act_in_the_peerings_own_account(accounts_cli, two_accounts):
    box, report = two_accounts
    dep = report.deployments["fleet-staging"].id
    pcx = report.peerings["staging-tools->fleet-staging"]
    before = accounts_cli("diff", dep, pcx, "--json")
    assert before.code == 2, before.out
    missing = [r for r in before.json["peerings"][0]["routes"] if r["state"] == "missing"]
    assert [r["routeTableId"] for r in missing] == [report.vpcs["staging-tools"].route_tables[0]]

    async def prod_state() -> dict:
        async with box.customer_gateway() as prod:
            return await aws_state(prod)

    prod_before = asyncio.run(prod_state())
    fixed = accounts_cli("fix", dep, pcx, "--yes", "--json")
    assert fixed.code == 0, fixed.out
    assert fixed.json["diff"]["inSync"]

    async def staging_routes() -> list[tuple[str, str]]:
        async with box.staging_gateway() as staging:
            tables = await staging.describe_route_tables(
                "us-east-1", vpc_ids=[report.vpcs["staging-tools"].vpc_id]
            )
        return [(t.id, r.destination) for t in tables for r in t.routes if r.target_id == pcx]

    assert (report.vpcs["staging-tools"].route_tables[0], "10.203.0.0/16") in asyncio.run(
        staging_routes()
    )
    assert asyncio.run(prod_state()) == prod_before

    all_diffs = accounts_cli("diff", "--all", "--json")
    assert all_diffs.code == 1  # legacy could not be read
    assert any(k.startswith("legacy/") for k in all_diffs.json["failedRegions"])
    assert pcx in {d["peeringId"] for d in all_diffs.json["peerings"]}


def test_create_in_the_staging_account_only(accounts_cli, two_accounts):
    box, report = two_accounts
    dep = report.deployments["fleet-staging"]

    async def build() -> str:
        async with box.staging_gateway() as staging:
            vpc = await build_customer_vpc(staging, "staging-new", "us-east-1", "172.43.0.0/16")
        return vpc.vpc_id

    vpc_id = asyncio.run(build())

    async def both() -> tuple[dict, dict]:
        async with box.customer_gateway() as prod, box.staging_gateway() as staging:
            return await aws_state(prod), await aws_state(staging)

    prod_before, staging_before = asyncio.run(both())
    refused = accounts_cli("create", dep.id, "--vpc-id", vpc_id, "--yes", "--json")
    assert refused.code == 2 and refused.json["error"]["code"] == "ACCOUNT_REQUIRED"
    # A malformed id is named before the account is asked for (tried by hand: the account
    # came first, and fixing it only led to the next error).
    bad = accounts_cli("create", dep.id, "--vpc-id", "vpc-nothex", "--yes", "--json")
    assert bad.code == 2 and bad.json["error"]["code"] == "INVALID_ARGUMENT"
    assert "--vpc-id" in bad.json["error"]["message"]
    assert asyncio.run(both()) == (prod_before, staging_before)

    made = accounts_cli(
        "create", dep.id, "--vpc-id", vpc_id, "--account", "staging", "--yes", "--json"
    )
    assert made.code == 0, made.out
    result = made.json["result"]
    prod_after, staging_after = asyncio.run(both())
    assert prod_after == prod_before
    pcxs = dict(staging_after["us-east-1"]["pcxs"])
    assert pcxs[result["peeringId"]] == "active"
    assert result["routesAdded"] and all(
        (table, "10.203.0.0/16", result["peeringId"]) in staging_after["us-east-1"]["routes"]
        for table in result["routesAdded"]
    )
    new_rules = set(staging_after["us-east-1"]["rules"]) - set(staging_before["us-east-1"]["rules"])
    assert {r[4] for r in new_rules} == {"10.203.0.0/16"}
    row = by_pcx(accounts_cli("ls", "--json").json)[result["peeringId"]]
    assert (row["account"], row["health"]) == ("staging", "ok")


async def test_assumed_role_credentials_are_renewed_before_they_expire(sandbox):
    """A gateway left open: the role is assumed again 15 minutes before its credentials
    expire (an hour on moto), not on every call and not after they expired. The clock is
    moved within one lifetime (moto's expiry follows the real clock)."""
    now = [datetime.now(UTC)]
    staging = sandbox.customer_aws.model_copy(update={"role_arn": STAGING_ROLE_ARN})
    async with Ec2Gateway(staging, clock=lambda: now[0]) as ec2:
        first = await ec2.caller_identity()
        assert first.account_id == STAGING_ACCOUNT_ID
        assert ec2.calls["AssumeRole"] == 1
        now[0] += timedelta(minutes=30)
        await ec2.describe_vpcs("us-east-1")
        assert ec2.calls["AssumeRole"] == 1
        assert ec2._session is not None
        credentials = await ec2._session.get_credentials()
        old_key = (await credentials.get_frozen_credentials()).access_key
        now[0] += timedelta(minutes=20)  # 10 minutes before expiry: renewed first
        assert (await ec2.caller_identity()).account_id == STAGING_ACCOUNT_ID
        assert ec2.calls["AssumeRole"] == 2
        assert (await credentials.get_frozen_credentials()).access_key != old_key


def test_the_config_file_names_the_bad_key_and_its_line(tmp_path, monkeypatch):
    for name in ("PEERING_PLATFORM_URL", "PEERING_PLATFORM_KEY", "PEERING_PLATFORM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PEERING_AWS_PROFILE", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'platform_url = "https://p.example"\n\n[[accounts]]\nname = "prod"\n\n'
        '[[accounts]]\nname = "staging"\nrole_arn = "arn:aws:iam::22:role/x"\n'
        'aws_secret_access_key = "AKIAsecretvalue"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_connection(path=cfg)
    message = str(err.value)
    assert f"{cfg}, line 8: accounts[2].role_arn" in message
    assert f"{cfg}, line 9: accounts[2].aws_secret_access_key: credentials do not belong" in (
        message
    )
    assert "AKIAsecretvalue" not in message

    cfg.write_text('[[accounts]]\nname = "a"\n[[accounts]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="account names must differ: a twice"):
        load_connection(path=cfg)
    cfg.write_text('[[accounts]]\nname = "a"\n[[accounts]]\nname = "b"\nregions = []\n')
    with pytest.raises(ConfigError, match=r"line 5: accounts\[2\]\.regions: name at least one"):
        load_connection(path=cfg)

    cfg.write_text(
        'platform_url = "https://p.example"\nplatform_key = "k"\n'
        '[[accounts]]\nname = "prod"\nprofile = "prod-admin"\n'
        f'[[accounts]]\nname = "staging"\nrole_arn = "{STAGING_ROLE_ARN}"\n'
        'external_id = "ext-1"\nregions = ["us-east-1"]\n'
    )
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", "s")
    connection = load_connection(path=cfg)
    assert [a.name for a in connection.customer_accounts()] == ["prod", "staging"]
    staging = connection.customer_accounts()[1]
    assert staging.expected_id == STAGING_ACCOUNT_ID and staging.regions == ("us-east-1",)
    assert "ext-1" not in repr(connection)
    # --aws-profile asks for that one account.
    only = load_connection(path=cfg, aws_profile="other")
    assert [a.name for a in only.customer_accounts()] == ["default"]
