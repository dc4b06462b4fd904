"""What lets the peering's traffic through, judged the way EC2 judges it (pure functions).

- **Routes**: the longest prefix wins; at equal length a CIDR route wins over a prefix-list
  route (AWS's route priority). A prefix-list route competes with each CIDR it holds.
- **Security group rules** allow what their CIDR or prefix list holds: a block that contains
  the deployment CIDR allows it (``0.0.0.0/0`` aside: that is "too broad", not an allowance).
- **Network ACLs** are stateless and numbered: the lowest-numbered entry that matches a packet
  decides, and nothing matched means the final ``*`` deny. A verdict here covers a whole
  block of addresses and a range of ports, so an entry that matches part of it decides that
  part only.

:mod:`peering_core.drift` (the diff) and :mod:`peering_core.path` (the path check) both judge
with these.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .models import (
    DEFAULT_ACL_RULE,
    AclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroupRule,
)

ANYWHERE = "0.0.0.0/0"
# The deployment's MQTT listeners a client in the customer VPC connects to (TCP, TLS).
MQTT_PORTS = (1883, 8883)
# Where the replies of a stateless ACL go: the client's ephemeral ports (AWS's advice covers
# every OS with 1024-65535).
EPHEMERAL_PORTS = (1024, 65535)

# A prefix list's IPv4 entries, or None when they could not be read.
EntriesOf = Callable[[str], "tuple[str, ...] | None"]
Net = ipaddress.IPv4Network


def ipv4(cidr: str) -> Net | None:
    """``cidr`` as an IPv4 network, or ``None`` (IPv6, or not a CIDR)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


def within(inner: str, outer: str) -> bool:
    """Whether every address of ``inner`` is in ``outer`` (equal counts)."""
    a, b = ipv4(inner), ipv4(outer)
    return a is not None and b is not None and a.subnet_of(b)


def strictly_within(inner: str, outer: str) -> bool:
    a, b = ipv4(inner), ipv4(outer)
    return a is not None and b is not None and a != b and a.subnet_of(b)


def port_label(ports: tuple[int, int] | int | None) -> str:
    """``tcp/5432``, ``tcp/1024-65535``, or ``all traffic`` for ``None``."""
    if ports is None:
        return "all traffic"
    if isinstance(ports, int):
        return f"tcp/{ports}"
    lo, hi = ports
    return f"tcp/{lo}" if lo == hi else f"tcp/{lo}-{hi}"


@functools.cache
def ports_label(ports: tuple[tuple[int, int], ...]) -> str:
    """``tcp/5432``, ``tcp/1024-65535``, ``tcp/1883,8883``: one string per label, shared by
    every row that says it (a fleet's diff has thousands)."""
    return port_label(ports[0]) + "".join(f",{lo}" for lo, _ in ports[1:])


# --- routes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """One CIDR a route table can send somewhere: a CIDR route, or one entry of a prefix-list
    route (``prefix_list`` names the list)."""

    net: Net
    route: Route
    prefix_list: str | None = None

    @property
    def cidr(self) -> str:
        return str(self.net)

    def via(self) -> str:
        """How the table reaches this CIDR, said short: ``pcx-… through prefix list pl-…``."""
        through = f" through prefix list {self.prefix_list}" if self.prefix_list else ""
        return f"{self.route.target_id}{through}"


def route_choices(table: RouteTable, entries_of: EntriesOf) -> tuple[list[RouteChoice], list[str]]:
    """Every CIDR ``table`` routes (prefix lists expanded), and the prefix lists it refers to
    whose entries are unknown."""
    choices = [
        RouteChoice(net, route) for route in table.routes if (net := ipv4(route.destination))
    ]
    unknown: list[str] = []
    for route in table.prefix_list_routes:
        entries = entries_of(route.destination)
        if entries is None:
            unknown.append(route.destination)
            continue
        choices += [RouteChoice(net, route, route.destination) for e in entries if (net := ipv4(e))]
    return choices, unknown


def _rank(choice: RouteChoice) -> tuple[int, int]:
    # Longest prefix first; at equal length a CIDR route beats a prefix-list route.
    return (choice.net.prefixlen, 0 if choice.prefix_list else 1)


def best_route(choices: Iterable[RouteChoice], cidr: str | Net) -> RouteChoice | None:
    """The route that carries traffic to all of ``cidr``: the most specific one containing it."""
    net = cidr if isinstance(cidr, Net) else ipv4(cidr)
    if net is None:
        return None
    containing = [c for c in choices if net.subnet_of(c.net)]
    return max(containing, key=_rank, default=None)


def carves(choices: Sequence[RouteChoice], cidr: str) -> list[RouteChoice]:
    """The winning route of each CIDR strictly inside ``cidr`` that a table routes on its own
    (the parts of ``cidr`` that do not follow ``cidr``'s route)."""
    outer = ipv4(cidr)
    if outer is None:
        return []
    inner = {c.net for c in choices if c.net != outer and c.net.subnet_of(outer)}
    found = [best_route([c for c in choices if c.net == net], net) for net in sorted(inner)]
    return [c for c in found if c is not None]


def subnet_route_table(tables: Sequence[RouteTable], subnet_id: str) -> RouteTable | None:
    """The table that routes ``subnet_id``: its explicit association, else the main table."""
    explicit = next((t for t in tables if subnet_id in t.subnet_ids), None)
    return explicit or next((t for t in tables if t.main), None)


# --- security group rules -------------------------------------------------------------------


def rule_sources(rule: SecurityGroupRule, entries_of: EntriesOf) -> tuple[str, ...]:
    """The CIDRs a rule lets in (or out): its CIDR, or its prefix list's entries."""
    if rule.cidr is not None:
        return (rule.cidr,)
    if rule.prefix_list_id is not None:
        return entries_of(rule.prefix_list_id) or ()
    return ()


def rule_allows(
    rule: SecurityGroupRule,
    cidr: str,
    port: int | None,
    entries_of: EntriesOf,
    *,
    anywhere: bool = False,
) -> str | None:
    """The block through which ``rule`` lets all of ``cidr`` pass on ``port`` (``None``: all
    traffic), or ``None``. ``0.0.0.0/0`` counts only with ``anywhere``: the diff calls it too
    broad (revoking it must not leave the peering without a rule), a path lets it through."""
    if not rule.covers_port(port):
        return None
    return next(
        (
            s
            for s in rule_sources(rule, entries_of)
            if (anywhere or s != ANYWHERE) and within(cidr, s)
        ),
        None,
    )


def rule_allowance(rule: SecurityGroupRule, cidr: str, block: str) -> str:
    """``sgr-… (10.0.0.0/8 through prefix list pl-…)`` — how a rule allows ``cidr``."""
    how = [f"{block} contains it"] if block != cidr else []
    if rule.prefix_list_id:
        how.append(f"through prefix list {rule.prefix_list_id}")
    return f"{rule.id} ({', '.join(how)})" if how else rule.id


# --- network ACLs ---------------------------------------------------------------------------

# A block of addresses by a range of ports, as inclusive integer bounds.
_Box = tuple[int, int, int, int]


def _box(net: Net, ports: tuple[int, int]) -> _Box:
    return (int(net.network_address), int(net.broadcast_address), ports[0], ports[1])


def _meet(a: _Box, b: _Box) -> _Box | None:
    box = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[1] and box[2] <= box[3] else None


def _minus(a: _Box, b: _Box) -> list[_Box]:
    """``a`` without ``b``, as at most four boxes."""
    cut = _meet(a, b)
    if cut is None:
        return [a]
    pieces = [
        (a[0], cut[0] - 1, a[2], a[3]),
        (cut[1] + 1, a[1], a[2], a[3]),
        (cut[0], cut[1], a[2], cut[2] - 1),
        (cut[0], cut[1], cut[3] + 1, a[3]),
    ]
    return [p for p in pieces if p[0] <= p[1] and p[2] <= p[3]]


@dataclass(frozen=True, slots=True)
class AclVerdict:
    """Whether an ACL lets TCP between ``cidr`` and ``ports`` through in one direction, and the
    entry that decides (``None``: nothing matched, the final ``*`` deny)."""

    allowed: bool
    entry: AclEntry | None

    @property
    def rule(self) -> str:
        if self.entry is None or self.entry.rule_number >= DEFAULT_ACL_RULE:
            return "*"
        return _number(self.entry.rule_number)

    def says(self) -> str:
        if self.entry is None:
            return "* deny all traffic (no entry matches)"
        return _says(self.entry)


# The same few entries decide for thousands of peerings: their words are made once.
_number = functools.lru_cache(maxsize=4096)(str)
_says = functools.lru_cache(maxsize=4096)(AclEntry.describe)


def acl_verdict(acl: NetworkAcl, *, egress: bool, cidr: str, ports: tuple[int, int]) -> AclVerdict:
    """Walk ``acl``'s entries in number order for TCP to (``egress``) or from ``cidr`` on
    ``ports``: the first entry that denies any of it blocks; allows must cover all of it."""
    net = ipv4(cidr)
    if net is None:
        return AclVerdict(False, None)
    open_: list[_Box] = [_box(net, ports)]
    for entry in acl.rules(egress=egress):
        entry_net = ipv4(entry.cidr)
        if not entry.matches_tcp() or entry_net is None:
            continue
        matched = _box(entry_net, entry.port_range())
        if not any(_meet(b, matched) for b in open_):
            continue
        if not entry.allow:
            return AclVerdict(False, entry)
        open_ = [piece for b in open_ for piece in _minus(b, matched)]
        if not open_:
            return AclVerdict(True, entry)
    return AclVerdict(False, None)


def subnet_acl(acls: Sequence[NetworkAcl], subnet_id: str, vpc_id: str) -> NetworkAcl | None:
    """The ACL of ``subnet_id``: its association, else the VPC's default ACL."""
    explicit = next((a for a in acls if subnet_id in a.subnet_ids), None)
    return explicit or next((a for a in acls if a.is_default and a.vpc_id == vpc_id), None)


def acl_fixes(
    acl: NetworkAcl, *, egress: bool, cidr: str, ports: tuple[int, int], taken: set[int]
) -> list[tuple[AclEntry, bool]]:
    """The entries that let TCP between ``cidr`` and ``ports`` through ``acl``, each with
    whether it replaces an entry of the same number (else it is created).

    A deny that only ever concerns this traffic (TCP, inside ``cidr``, inside ``ports``) is
    replaced by the same entry as an allow; any other deny keeps its number and an allow is
    inserted just below it; the final ``*`` gets an allow after the last entry. ``taken``
    holds the numbers this plan already uses, and gets these. Empty when no free number is
    left where one is needed.
    """
    fixes: list[tuple[AclEntry, bool]] = []
    current = acl
    # Each fix lifts one deny (or the final one), so entries + 1 fixes always do.
    for _ in range(len(acl.entries) + 2):
        verdict = acl_verdict(current, egress=egress, cidr=cidr, ports=ports)
        if verdict.allowed:
            return fixes
        fix = _one_fix(current, verdict, egress=egress, cidr=cidr, ports=ports, taken=taken)
        if fix is None:
            return []
        fixes.append(fix)
        entry = fix[0]
        same = (egress, entry.rule_number)
        kept = [e for e in current.entries if (e.egress, e.rule_number) != same]
        current = NetworkAcl(
            id=acl.id, vpc_id=acl.vpc_id, is_default=acl.is_default,
            subnet_ids=acl.subnet_ids, entries=(*kept, entry),
        )  # fmt: skip
    return []


def _one_fix(
    acl: NetworkAcl,
    verdict: AclVerdict,
    *,
    egress: bool,
    cidr: str,
    ports: tuple[int, int],
    taken: set[int],
) -> tuple[AclEntry, bool] | None:
    used = {e.rule_number for e in acl.entries if e.egress == egress} | taken
    blocker = verdict.entry
    allow = AclEntry(
        rule_number=0, egress=egress, protocol="6", allow=True, cidr=cidr,
        from_port=ports[0], to_port=ports[1],
    )  # fmt: skip
    if blocker is not None and blocker.rule_number < DEFAULT_ACL_RULE:
        lo, hi = blocker.port_range()
        own = blocker.protocol == "6" and within(blocker.cidr, cidr)
        if own and ports[0] <= lo and hi <= ports[1]:
            return _numbered(blocker), True
        free = next((n for n in range(blocker.rule_number - 1, 0, -1) if n not in used), None)
        if free is None:
            return None
        taken.add(free)
        return _numbered(allow, number=free), False
    last = max((n for n in used if n < DEFAULT_ACL_RULE), default=0)
    number = (last // 10 + 1) * 10 if last else 100
    while number in used:
        number += 1
    if number >= DEFAULT_ACL_RULE:
        return None
    taken.add(number)
    return _numbered(allow, number=number), False


def _numbered(entry: AclEntry, *, number: int | None = None) -> AclEntry:
    """``entry`` as an allow, renumbered when ``number`` is given."""
    return AclEntry(
        rule_number=entry.rule_number if number is None else number,
        egress=entry.egress,
        protocol=entry.protocol,
        allow=True,
        cidr=entry.cidr,
        from_port=entry.from_port,
        to_port=entry.to_port,
    )
