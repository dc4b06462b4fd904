"""The fix plan as Terraform: ``fix --dry-run --format terraform`` on the sandbox, one story
per kind of action. Each parses the output with python-hcl2 and checks that it names exactly
the plan's resources (what ``fix --dry-run --json`` lists), with an ``import`` block for each
thing that exists already (read back from moto where it matters), and none for what is new.

The last story applies the file with the real Terraform and AWS provider against the same moto
server, when this machine has them (``make test-all``: two applies take a minute of CPU).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from peering_core.drift import FixAction, FixPlan, PeeringDiff
from peering_core.models import SecurityGroupRule
from peering_core.sandbox.seed import SeedReport
from peering_core.sandbox.servers import Sandbox
from peering_core.terraform import REMOVALS_END, hcl, plan_terraform

from .cli_helpers import Cli
from .network_builder import NetworkBuilder
from .test_drift import (
    ANYWHERE,
    CIDR,
    REGION,
    Peered,
    assert_in_sync,
    create,
    everything_at_once,
    revoke_from,
    via_an_abandoned_pcx,
)
from .test_reachability import DB_PORT, _entry, by_hand, leak_and_lock


@pytest.fixture
def peered(cli: Cli, seeded: SeedReport) -> Peered:
    """orders-db's clients: routes in both tables that serve subnets, tcp/5432 on its group."""
    vpc = seeded.vpcs["prod-data"]
    return create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                  "--port", str(DB_PORT))  # fmt: skip


PLAIN = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

Resource = tuple[str, str]  # (type, name)


def parse(text: str) -> tuple[dict[Resource, dict[str, Any]], dict[Resource, str]]:
    """The resources of a Terraform file by address, and each import's id by its address."""
    parsed = hcl2.loads(text, serialization_options=PLAIN)
    resources: dict[Resource, dict[str, Any]] = {}
    for entry in parsed.get("resource", []):
        for kind, named in entry.items():
            for name, body in named.items():
                assert (kind, name) not in resources, f"{kind}.{name} twice"
                resources[(kind, name)] = body
    imports: dict[Resource, str] = {}
    for block in parsed.get("import", []):
        kind, name = block["to"].removeprefix("${").removesuffix("}").split(".", 1)
        imports[(kind, name)] = block["id"]
    return resources, imports


def terraform(cli: Cli, peered: Peered, *flags: str) -> tuple[str, list[dict[str, Any]]]:
    """The Terraform of ``fix --dry-run``, and the plan's allowed actions as its JSON lists
    them; nothing changed on AWS or the platform."""
    before = cli.state()
    listed = cli("fix", peered.deployment, peered.pcx, "--dry-run", *flags, "--json")
    written = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--format", "terraform",
                  *flags)  # fmt: skip
    assert written.code == listed.code, written.out + written.err
    assert cli.state() == before
    as_json = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--format", "terraform",
                  *flags, "--json")  # fmt: skip
    assert as_json.json["terraform"].rstrip("\n") == written.out.rstrip("\n")
    return written.out, listed.json["plan"]["actions"]


def route_target(target: str) -> str:
    return "vpc_peering_connection_id" if target.startswith("pcx-") else "gateway_id"


def expected(
    actions: list[dict[str, Any]], rules: dict[str, SecurityGroupRule]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """What each action must be as a resource (its type and identifying arguments), and the
    ids that must be imported (what exists on AWS)."""
    wanted: list[tuple[Any, ...]] = []
    imported: list[str] = []
    for a in actions:
        kind = a["kind"]
        if kind.endswith("_route"):
            dest = a["destination"]
            where = (
                "destination_prefix_list_id" if dest.startswith("pl-") else "destination_cidr_block"
            )
            target = a["target"] if kind == "delete_route" else a["peeringId"]
            wanted.append(
                ("aws_route", a["routeTableId"], where, dest, route_target(target), target)
            )
            if kind != "create_route":
                imported.append(f"{a['routeTableId']}_{dest}")
        elif kind == "authorize_ingress":
            port = a["port"]
            wanted.append(("aws_vpc_security_group_ingress_rule", a["groupId"], a["cidr"],
                           "-1" if port is None else "tcp", port, port))  # fmt: skip
        elif kind == "revoke_ingress":
            for rule_id in a["ruleIds"]:
                rule = rules[rule_id]
                every = rule.protocol == "-1"  # all traffic: no ports
                wanted.append(("aws_vpc_security_group_ingress_rule", rule.group_id, rule.cidr,
                               rule.protocol, None if every else rule.from_port,
                               None if every else rule.to_port))  # fmt: skip
                imported.append(rule_id)
        else:
            wanted.append(
                ("aws_network_acl_rule", a["networkAclId"], a["ruleNumber"], a["egress"], "6",
                 "allow", a["cidr"], a["fromPort"], a["toPort"])
            )  # fmt: skip
            if kind == "replace_acl_entry":
                imported.append(
                    f"{a['networkAclId']}:{a['ruleNumber']}:6:{str(a['egress']).lower()}"
                )
    return wanted, imported


def found(resources: dict[Resource, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The same identifying arguments, read from the parsed file."""
    out: list[tuple[Any, ...]] = []
    for (kind, _), r in resources.items():
        if kind == "aws_route":
            where = next(k for k in r if k.startswith("destination_"))
            target = next(k for k in r if k.endswith("_id") and k != "route_table_id"
                          and not k.startswith("destination_"))  # fmt: skip
            out.append((kind, r["route_table_id"], where, r[where], target, r[target]))
        elif kind == "aws_vpc_security_group_ingress_rule":
            out.append((kind, r["security_group_id"], r["cidr_ipv4"], r["ip_protocol"],
                        r.get("from_port"), r.get("to_port")))  # fmt: skip
        else:
            out.append(
                (kind, r["network_acl_id"], r["rule_number"], r["egress"], r["protocol"],
                 r["rule_action"], r["cidr_block"], r["from_port"], r["to_port"])
            )  # fmt: skip
    return out


def customer_rules(sandbox: Sandbox, peered: Peered) -> dict[str, SecurityGroupRule]:
    async def read(ec2: NetworkBuilder) -> dict[str, SecurityGroupRule]:
        groups = await ec2.describe_security_groups(REGION, vpc_ids=[peered.vpc.vpc_id])
        rules = await ec2.describe_security_group_rules(REGION, [g.id for g in groups])
        return {r.id: r for r in rules}

    result: dict[str, SecurityGroupRule] = by_hand(sandbox, read)
    return result


def assert_names_the_plan(
    cli: Cli, sandbox: Sandbox, peered: Peered, kinds: list[str], *flags: str
) -> tuple[str, dict[Resource, dict[str, Any]], dict[Resource, str]]:
    """The Terraform names exactly the plan's resources, imports exactly what exists, and the
    plan is made of ``kinds``."""
    text, actions = terraform(cli, peered, *flags)
    assert sorted(a["kind"] for a in actions) == sorted(kinds)
    resources, imports = parse(text)
    wanted, imported = expected(actions, customer_rules(sandbox, peered))
    assert sorted(found(resources), key=repr) == sorted(wanted, key=repr)
    assert sorted(imports.values()) == sorted(imported)
    assert set(imports) <= set(resources), "every import has its resource block"
    adopted = {address for address, body in resources.items() if "lifecycle" in body}
    removals = sum(len(a["ruleIds"]) if a["kind"] == "revoke_ingress" else 1
                   for a in actions if a["kind"] in ("delete_route", "revoke_ingress"))  # fmt: skip
    assert len(adopted) == removals and adopted <= set(imports)
    assert (REMOVALS_END in text) == bool(removals)
    return text, resources, imports


# --- one story per kind of action ------------------------------------------------------------


def test_create_route_is_a_new_aws_route_with_nothing_imported(cli, sandbox, peered):
    by_hand(sandbox, lambda ec2: ec2.delete_route(REGION, peered.private, CIDR))
    text, _, imports = assert_names_the_plan(cli, sandbox, peered, ["create_route"])
    assert imports == {}
    assert text.startswith(f"# peering-tui fix plan for {peered.pcx} ")
    assert f"# 1. {peered.private} has no route to {CIDR}" in text


def test_replace_route_imports_the_route_and_points_it_at_the_pcx(cli, sandbox, peered):
    async def hijack(ec2: NetworkBuilder) -> str:
        igw = await ec2.create_internet_gateway(REGION, peered.vpc.vpc_id)
        await ec2.delete_route(REGION, peered.private, CIDR)
        await ec2.create_gateway_route(REGION, peered.private, CIDR, igw)
        return igw

    igw = by_hand(sandbox, hijack)
    held = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--format", "terraform")
    assert held.code == 2
    assert parse(held.out) == ({}, {}), "without --replace the route is only mentioned"
    assert "# held back, needs --replace:" in held.out

    text, resources, imports = assert_names_the_plan(
        cli, sandbox, peered, ["replace_route"], "--replace"
    )
    ((address, body),) = resources.items()
    assert imports == {address: f"{peered.private}_{CIDR}"}
    assert body["vpc_peering_connection_id"] == peered.pcx
    assert f"now {igw}" in text


def test_delete_route_adopts_a_stale_prefix_list_route_then_deletes_it(cli, sandbox, peered):
    async def stale_list_route(ec2: NetworkBuilder) -> str:
        other = await ec2.create_prefix_list(REGION, "elsewhere", ["10.99.0.0/16"])
        await ec2.create_route(REGION, peered.private, other, peered.pcx)
        return other

    listed = by_hand(sandbox, stale_list_route)
    text, resources, imports = assert_names_the_plan(cli, sandbox, peered, ["delete_route"])
    ((address, body),) = resources.items()
    assert body["destination_prefix_list_id"] == listed
    assert body["vpc_peering_connection_id"] == peered.pcx  # as it is: adopting changes nothing
    assert body["lifecycle"] == [{"ignore_changes": "all"}]
    assert imports == {address: f"{peered.private}_{listed}"}
    removals = text[text.index("# --- removals") : text.index(REMOVALS_END)]
    assert f'id = "{peered.private}_{listed}"' in removals


def test_authorize_ingress_is_a_new_rule_described_as_the_tools_own(cli, sandbox, peered):
    group = peered.group("orders-db")
    by_hand(sandbox, lambda ec2: revoke_from(ec2, group, CIDR))
    _, resources, imports = assert_names_the_plan(cli, sandbox, peered, ["authorize_ingress"])
    ((_, body),) = resources.items()
    assert body["description"] == f"peering-tui {peered.pcx}"
    assert imports == {}


def test_revoke_ingress_adopts_each_rule_as_aws_has_it(cli, sandbox, peered):
    group = peered.group("orders-db")

    async def open_up(ec2: NetworkBuilder) -> None:
        await ec2.authorize_ingress(REGION, group, cidr=ANYWHERE, port=DB_PORT,
                                    description='a "quick" ${test}')  # fmt: skip
        await ec2.authorize_ingress(REGION, group, cidr=ANYWHERE, port=None, description="all")

    by_hand(sandbox, open_up)
    text, resources, imports = assert_names_the_plan(
        cli, sandbox, peered, ["revoke_ingress"], "--revoke"
    )
    rules = customer_rules(sandbox, peered)
    assert len(imports) == 2
    for address, rule_id in imports.items():
        body, rule = resources[address], rules[rule_id]
        assert body["description"].replace("$${", "${") == rule.description
        assert ("from_port" in body) == (rule.protocol != "-1")
    assert text.index("# --- removals") < text.index("import {")


def test_create_acl_entry_opens_a_locked_down_acl_for_the_mqtt_ports(cli, sandbox, peered):
    async def lock_down(ec2: NetworkBuilder) -> str:
        tables = await ec2.describe_route_tables(REGION, route_table_ids=[peered.private])
        return await ec2.create_network_acl(REGION, peered.vpc.vpc_id, tables[0].subnet_ids)

    acl = by_hand(sandbox, lock_down)
    _, resources, imports = assert_names_the_plan(
        cli, sandbox, peered, ["create_acl_entry"] * 3, "--nacl"
    )
    assert imports == {}
    assert {body["network_acl_id"] for body in resources.values()} == {acl}


def test_replace_acl_entry_imports_the_deny_it_replaces(cli, sandbox, seeded):
    vpc = seeded.vpcs["prod-data"]
    peered = create(cli, seeded, "--security-group", vpc.security_groups["orders-db"],
                    "--port", str(DB_PORT))  # fmt: skip

    async def deny(ec2: NetworkBuilder) -> str:
        async with sandbox.client() as platform:
            await platform.create_resource(
                peered.deployment, "orders-db", "postgresql", vpc.interfaces["orders-db"], DB_PORT
            )
        subnet = next(
            n.subnet_id
            for n in await ec2.describe_network_interfaces(REGION, [vpc.vpc_id])
            if vpc.interfaces["orders-db"] in n.private_ips
        )
        acl = await ec2.create_network_acl(REGION, vpc.vpc_id, [subnet])
        for egress in (False, True):
            await ec2.create_network_acl_entry(REGION, acl, _entry(100, ANYWHERE, egress))
        await ec2.create_network_acl_entry(
            REGION, acl, _entry(90, CIDR, False, allow=False, ports=(DB_PORT, DB_PORT))
        )
        return acl

    acl = by_hand(sandbox, deny)
    _, resources, imports = assert_names_the_plan(
        cli, sandbox, peered, ["replace_acl_entry"], "--nacl"
    )
    ((address, body),) = resources.items()
    assert imports == {address: f"{acl}:90:6:false"}
    assert (body["rule_number"], body["rule_action"]) == (90, "allow")


def test_format_terraform_needs_dry_run_and_changes_nothing(cli, peered):
    before = cli.state()
    refused = cli("fix", peered.deployment, peered.pcx, "--format", "terraform", "--yes")
    assert refused.code == 2
    assert "--dry-run" in refused.err
    assert cli.state() == before
    in_sync = cli("fix", peered.deployment, peered.pcx, "--dry-run", "--format", "terraform")
    assert in_sync.code == 0
    assert parse(in_sync.out) == ({}, {})
    assert ": 0 action(s)" in in_sync.out


# --- what the core writes, without a network -----------------------------------------------


def test_strings_from_aws_cannot_break_out_of_their_quotes_or_their_comment():
    hostile = 'a" }\nresource "x" "y" { ${file("/etc/passwd")} %{ if true }\x1b[2J\u202e'
    rule = SecurityGroupRule(id="sgr-0a", group_id="sg-1", is_egress=False, protocol="-1",
                             cidr=ANYWHERE, description=hostile)  # fmt: skip
    plan = FixPlan(actions=(
        FixAction(kind="revoke_ingress", region=REGION, reason=hostile, needs="revoke",
                  group_id="sg-1", rule_ids=("sgr-0a",), rules=(rule,)),
    ))  # fmt: skip
    diff = PeeringDiff(peering_id="pcx-1", deployment_id="d1", region=REGION, vpc_id="vpc-1",
                       deployment_cidr=CIDR, peering_active=False)  # fmt: skip
    text = plan_terraform(plan, diff, hostile, replace=False, revoke=True)
    assert text.isascii() and "\x1b" not in text
    resources, imports = parse(text)
    assert list(resources) == [("aws_vpc_security_group_ingress_rule", "sgr-0a")]
    assert imports == {("aws_vpc_security_group_ingress_rule", "sgr-0a"): "sgr-0a"}
    description = resources[("aws_vpc_security_group_ingress_rule", "sgr-0a")]["description"]
    assert description.startswith('a" }\nresource "x" "y" { ')  # one string, still whole
    # No template sequence is left for Terraform to evaluate (comments are not evaluated).
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "${" not in code.replace("$${", "") and "%{" not in code.replace("%%{", "")
    assert all(line.startswith("# ") for line in text.splitlines() if "passwd" in line
               and "description" not in line)  # fmt: skip
    assert hcl(True) == "true" and hcl(5) == "5"


# --- applied by Terraform itself -----------------------------------------------------------

TERRAFORM = shutil.which("terraform")
PROVIDER_MIRROR = Path(os.environ.get("PEERING_TF_PLUGINS", "/opt/tf-plugins"))
HAS_TERRAFORM = (
    bool(TERRAFORM) and (PROVIDER_MIRROR / "registry.terraform.io/hashicorp/aws").is_dir()
)


def provider_block(sandbox: Sandbox) -> str:
    creds = sandbox.customer_aws
    assert creds.secret_access_key is not None and creds.session_token is not None
    return f"""terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}
provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "{creds.access_key_id}"
  secret_key                  = "{creds.secret_access_key.get_secret_value()}"
  token                       = "{creds.session_token.get_secret_value()}"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    ec2 = "{sandbox.moto.url}"
    sts = "{sandbox.moto.url}"
  }}
}}
"""


def run_terraform(workdir: Path, *args: str) -> str:
    assert TERRAFORM is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    done = subprocess.run([TERRAFORM, *args, "-input=false", "-no-color"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def everything_and_acls(cli: Cli, sandbox: Sandbox, seeded: SeedReport) -> Peered:
    """Every kind of drift on routes and rules, and a locked-down ACL."""
    peered = everything_at_once(cli, sandbox, seeded)

    async def lock_down(ec2: NetworkBuilder) -> None:
        tables = await ec2.describe_route_tables(REGION, route_table_ids=[peered.private])
        await ec2.create_network_acl(REGION, peered.vpc.vpc_id, tables[0].subnet_ids)

    by_hand(sandbox, lock_down)
    return peered


STORIES: dict[str, Callable[[Cli, Sandbox, SeedReport], Peered]] = {
    "every-kind-of-drift-and-a-locked-acl": everything_and_acls,
    "prefix-lists-and-a-deny": leak_and_lock,
}


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TERRAFORM, reason="terraform and its AWS provider are not here")
@pytest.mark.parametrize("story", list(STORIES))
def test_terraform_applies_the_plan_in_two_applies_and_brings_it_in_sync(
    cli, sandbox, seeded, tmp_path, story
):
    peered = STORIES[story](cli, sandbox, seeded)
    flags = ("--replace", "--revoke", "--nacl")
    text, actions = terraform(cli, peered, *flags)
    assert {a["kind"] for a in actions} >= {"delete_route", "create_acl_entry"}
    (tmp_path / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{PROVIDER_MIRROR}"\n'
        "  }\n}\n"
    )
    (tmp_path / "provider.tf").write_text(provider_block(sandbox))
    (tmp_path / "fix.tf").write_text(text)
    run_terraform(tmp_path, "init")
    before = cli.state()["customer"][REGION]
    first = run_terraform(tmp_path, "apply", "-auto-approve")
    # Only an ACL deny being replaced is destroyed (then made again as the allow).
    replaced = sum(a["kind"] == "replace_acl_entry" for a in actions)
    assert f" {replaced} destroyed." in first
    # The first apply makes and changes; it deletes nothing (a route replaced in place keeps
    # its table and destination, and the removals are only adopted).
    after = cli.state()["customer"][REGION]
    assert {(t, d) for t, d, _ in before["routes"]} <= {(t, d) for t, d, _ in after["routes"]}
    assert set(map(tuple, before["rules"])) <= set(map(tuple, after["rules"]))
    # Then the removals: their section deleted, the second apply deletes them.
    start = text.find("\n# --- removals")
    if start >= 0:
        end = text.index(REMOVALS_END) + len(REMOVALS_END)
        (tmp_path / "fix.tf").write_text(text[:start] + text[end:])
    second = run_terraform(tmp_path, "apply", "-auto-approve")
    assert "0 added, 0 changed" in second
    assert_in_sync(cli, peered)
    again = cli("fix", peered.deployment, peered.pcx, "--dry-run", *flags, "--json")
    assert again.json["plan"]["actions"] == []


def test_a_blackhole_on_an_abandoned_pcx_is_replaced_in_place(cli, sandbox, peered):
    earlier = by_hand(sandbox, lambda ec2: via_an_abandoned_pcx(sandbox, ec2, peered, peered.main))
    text, resources, imports = assert_names_the_plan(cli, sandbox, peered, ["replace_route"])
    ((address, body),) = resources.items()
    assert imports == {address: f"{peered.main}_{CIDR}"}
    assert body["vpc_peering_connection_id"] == peered.pcx
    assert f"now {earlier}" in text
