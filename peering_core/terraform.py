"""A fix plan as Terraform for the AWS provider, so a team whose network is in Terraform
applies the fix through its own pipeline instead of drifting from its state (pure).

Each action becomes the resource it makes or changes: ``aws_route``,
``aws_vpc_security_group_ingress_rule`` and ``aws_network_acl_rule``. What already exists on
AWS comes in through an ``import`` block first, because Terraform changes and deletes only
what its state holds:

- create a route, a rule or an ACL entry: a resource, nothing to import;
- replace a route: import it, and the resource names the pcx: Terraform changes its target in
  place (``ReplaceRoute``), the table never without a route;
- replace an ACL entry: import the deny, and the resource is the same number as an allow:
  every argument of an ACL entry forces a new one, so Terraform deletes the deny and then
  creates the allow (between the two, later entries decide: never more than the allow lets
  through);
- delete a route, revoke rules: Terraform cannot delete what it does not manage, so these
  come in two applies: the first adopts each as it is (import, with ``ignore_changes = all``:
  nothing changes on AWS), then their section is deleted and the second apply deletes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .drift import FixAction, FixPlan, PeeringDiff
from .models import SecurityGroupRule
from .printable import harmless

# The route argument for each kind of target id (``GatewayId`` carries any other kind).
_TARGET_ARGUMENTS = (
    ("pcx-", "vpc_peering_connection_id"),
    ("nat-", "nat_gateway_id"),
    ("tgw-", "transit_gateway_id"),
    ("eni-", "network_interface_id"),
    ("vpce-", "vpc_endpoint_id"),
    ("eigw-", "egress_only_gateway_id"),
    ("lgw-", "local_gateway_id"),
    ("cagw-", "carrier_gateway_id"),
)
REMOVALS_END = "# --- end of the removals ---"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Block:
    """One resource, with the import that brings it into Terraform's state if it exists."""

    type: str
    name: str
    arguments: tuple[tuple[str, str | int | bool], ...]
    import_id: str | None = None
    adopt_only: bool = False  # imported to be deleted by the next apply: never changed

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def render(self) -> list[str]:
        lines = []
        if self.import_id is not None:
            lines += ["import {", f"  to = {self.address}", f"  id = {hcl(self.import_id)}", "}"]
        lines.append(f"resource {hcl(self.type)} {hcl(self.name)} {{")
        width = max(len(key) for key, _ in self.arguments)
        lines += [f"  {key.ljust(width)} = {hcl(value)}" for key, value in self.arguments]
        if self.adopt_only:
            lines += ["", "  lifecycle {", "    ignore_changes = all", "  }"]
        lines.append("}")
        return lines


def hcl(value: str | int | bool) -> str:
    """``value`` as an HCL literal; a string escaped so nothing in it ends it or interpolates
    (``${``, ``%{``), and no character unsafe in a terminal is written as itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    text = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{text}"'


def _name(*parts: str) -> str:
    """A resource name from ids and CIDRs: ``rtb-0a1b_10_201_0_0_16``."""
    name = _UNSAFE_NAME.sub("_", "_".join(parts))
    return name if name[:1].isalpha() else f"r_{name}"


def _destination(destination: str) -> tuple[str, str]:
    if destination.startswith("pl-"):
        return "destination_prefix_list_id", destination
    return "destination_cidr_block", destination


def _target(target: str) -> tuple[str, str]:
    for prefix, argument in _TARGET_ARGUMENTS:
        if target.startswith(prefix):
            return argument, target
    return "gateway_id", target  # an internet or virtual private gateway, or ``local``


def _route(action: FixAction, target: str, *, import_it: bool, adopt_only: bool) -> Block:
    table, destination = action.route_table_id or "", action.destination or ""
    return Block(
        type="aws_route",
        name=_name(table, destination),
        arguments=(("route_table_id", table), _destination(destination), _target(target)),
        import_id=f"{table}_{destination}" if import_it else None,
        adopt_only=adopt_only,
    )


def _ports(protocol: str, from_port: int | None, to_port: int | None) -> list[tuple[str, int]]:
    if protocol == "-1" or from_port is None:
        return []
    return [("from_port", from_port), ("to_port", to_port if to_port is not None else from_port)]


def _authorized_rule(action: FixAction) -> Block:
    group, cidr = action.group_id or "", action.cidr or ""
    protocol = "-1" if action.port is None else "tcp"
    arguments: list[tuple[str, str | int | bool]] = [
        ("security_group_id", group),
        ("cidr_ipv4", cidr),
        ("ip_protocol", protocol),
        *_ports(protocol, action.port, action.port),
    ]
    if action.description:
        arguments.append(("description", action.description))
    port = "all" if action.port is None else f"tcp_{action.port}"
    return Block("aws_vpc_security_group_ingress_rule", _name(group, port, "from", cidr),
                 tuple(arguments))  # fmt: skip


def _revoked_rule(rule: SecurityGroupRule) -> Block:
    arguments: list[tuple[str, str | int | bool]] = [("security_group_id", rule.group_id)]
    if rule.prefix_list_id:
        arguments.append(("prefix_list_id", rule.prefix_list_id))
    else:
        arguments.append(("cidr_ipv4", rule.cidr or ""))
    arguments.append(("ip_protocol", rule.protocol))
    arguments += _ports(rule.protocol, rule.from_port, rule.to_port)
    if rule.description:
        arguments.append(("description", rule.description))
    return Block(
        "aws_vpc_security_group_ingress_rule",
        _name(rule.id),
        tuple(arguments),
        import_id=rule.id,
        adopt_only=True,
    )


def _acl_entry(action: FixAction) -> Block:
    acl, number, egress = action.network_acl_id or "", action.rule_number or 0, bool(action.egress)
    replace = action.kind == "replace_acl_entry"
    return Block(
        type="aws_network_acl_rule",
        name=_name(acl, "egress" if egress else "ingress", str(number)),
        arguments=(
            ("network_acl_id", acl),
            ("rule_number", number),
            ("egress", egress),
            ("protocol", "6"),
            ("rule_action", "allow"),
            ("cidr_block", action.cidr or ""),
            ("from_port", action.from_port or 0),
            ("to_port", action.to_port or 0),
        ),
        # The deny it replaces is TCP too (only such a deny is replaced, not worked around).
        import_id=f"{acl}:{number}:6:{'true' if egress else 'false'}" if replace else None,
    )


def action_blocks(action: FixAction) -> list[Block]:
    """The resources (and imports) that make ``action``'s change."""
    if action.kind == "create_route":
        return [_route(action, action.peering_id or "", import_it=False, adopt_only=False)]
    if action.kind == "replace_route":
        return [_route(action, action.peering_id or "", import_it=True, adopt_only=False)]
    if action.kind == "delete_route":
        return [_route(action, action.target or "", import_it=True, adopt_only=True)]
    if action.kind == "authorize_ingress":
        return [_authorized_rule(action)]
    if action.kind in ("create_acl_entry", "replace_acl_entry"):
        return [_acl_entry(action)]
    return [_revoked_rule(rule) for rule in action.rules]


def _unique(blocks: Iterable[Block], taken: set[str]) -> list[Block]:
    """The blocks, each renamed with a suffix if its address is taken already."""
    unique = []
    for block in blocks:
        name, count = block.name, 1
        while f"{block.type}.{name}" in taken:
            count += 1
            name = f"{block.name}_{count}"
        taken.add(f"{block.type}.{name}")
        unique.append(Block(block.type, name, block.arguments, block.import_id, block.adopt_only))
    return unique


def _how(action: FixAction) -> str:
    """What Terraform does for the action, in a comment's words."""
    return {
        "create_route": "a new route",
        "replace_route": f"imported, then its target changes in place (now {action.target})",
        "delete_route": f"adopted as it is (via {action.target}), deleted by the second apply",
        "authorize_ingress": "a new inbound rule",
        "create_acl_entry": "a new ACL entry",
        "replace_acl_entry": "the deny is imported, then replaced by this allow",
        "revoke_ingress": "adopted as they are, deleted by the second apply",
    }[action.kind]


def _section(numbered: Sequence[tuple[int, FixAction]], taken: set[str]) -> list[str]:
    lines: list[str] = []
    for number, action in numbered:
        lines += ["", f"# {number}. {harmless(action.reason)}", f"#    {_how(action)}"]
        for block in _unique(action_blocks(action), taken):
            lines += block.render()
    return lines


def plan_terraform(
    plan: FixPlan,
    diff: PeeringDiff,
    deployment: str,
    *,
    replace: bool,
    revoke: bool,
    nacl: bool = False,
) -> str:
    """The actions the flags allow as one Terraform file for the AWS provider (held-back
    ones listed in comments with the flag they need), in the plan's order."""
    allowed = plan.allowed(replace=replace, revoke=revoke, nacl=nacl)
    numbered = list(enumerate(allowed, 1))
    removals = [(n, a) for n, a in numbered if a.kind in ("delete_route", "revoke_ingress")]
    changes = [(n, a) for n, a in numbered if (n, a) not in removals]
    lines = [
        f"# peering-tui fix plan for {diff.peering_id} ({harmless(deployment)}, {diff.region}) "
        f"as Terraform: {len(allowed)} action(s)",
        "# For the hashicorp/aws provider (5.x or later) with Terraform 1.5 or later (import",
        f"# blocks), in a configuration whose aws provider works in {diff.region}.",
    ]
    taken: set[str] = set()
    lines += _section(changes, taken)
    if removals:
        lines += [
            "",
            "# --- removals: Terraform deletes only what its state holds ---",
            "# First apply (with the rest of this file): each is adopted as it is (import;",
            "# nothing changes on AWS). Then delete from here to the end of the removals and",
            "# apply again: Terraform deletes them.",
        ]
        lines += _section(removals, taken)
        lines += ["", REMOVALS_END]
    for action in plan.actions:
        if action not in allowed:
            lines += ["", f"# held back, needs --{action.needs}: {harmless(action.reason)}"]
    return "\n".join(lines) + "\n"
