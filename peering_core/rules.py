"""The platform's peering rules as pure functions.

Both sides use them: the platform server validates every confirmation with them, and the
operator's tools validate with them before any API call, so bad input never reaches AWS.
Each check raises :class:`~peering_core.errors.RuleViolation` with a stable ``code`` and a
message that names the offending value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from .errors import RuleViolation
from .printable import first_unsafe, harmless, shown

DEFAULT_RESERVED_CIDRS: tuple[str, ...] = ("100.0.0.0/8", "101.0.0.0/8")

PCX_RE = re.compile(r"pcx-[0-9a-f]{8,17}")
VPC_RE = re.compile(r"vpc-[0-9a-f]{8,17}")
_RTB_RE = re.compile(r"rtb-[0-9a-f]{8,17}")
_SG_RE = re.compile(r"sg-[0-9a-f]{8,17}")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]")

Network = ipaddress.IPv4Network


def _check_id(value: object, pattern: re.Pattern[str], field: str, shape: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RuleViolation(
            "INVALID_ARGUMENT", f"{field} {shown(value)} is not a valid {shape}", field=field
        )
    return value


def check_peering_id(value: object, field: str = "peeringId") -> str:
    return _check_id(value, PCX_RE, field, "peering id (pcx- followed by 8-17 hex digits)")


def check_vpc_id(value: object, field: str = "vpcId") -> str:
    return _check_id(value, VPC_RE, field, "VPC id (vpc- followed by 8-17 hex digits)")


def check_route_table_id(value: object, field: str = "routeTableId") -> str:
    return _check_id(value, _RTB_RE, field, "route table id (rtb- followed by 8-17 hex digits)")


def check_security_group_id(value: object, field: str = "securityGroupId") -> str:
    return _check_id(value, _SG_RE, field, "security group id (sg- followed by 8-17 hex digits)")


def check_account_id(value: object, field: str = "accountId") -> str:
    return _check_id(value, ACCOUNT_RE, field, "AWS account id (12 digits)")


def check_region(value: object, field: str = "region") -> str:
    return _check_id(value, REGION_RE, field, "AWS region name (like us-east-1)")


def check_name(value: object, field: str, *, max_length: int = 64) -> str:
    """A name: a string with something besides spaces, at most ``max_length`` characters, and
    nothing a terminal would act on (no control or format characters, no unpaired surrogate).
    Returned without surrounding spaces."""
    if not isinstance(value, str) or not value.strip():
        raise RuleViolation(
            "INVALID_ARGUMENT", f"{field} is required and must be a non-empty string", field
        )
    if len(value) > max_length:
        raise RuleViolation(
            "INVALID_ARGUMENT",
            f"{field} is {len(value)} characters long; at most {max_length} are allowed",
            field,
        )
    bad = first_unsafe(value)
    if bad is not None:
        raise RuleViolation(
            "INVALID_ARGUMENT",
            f"{field} holds a control character or an unpaired surrogate "
            f"({harmless(value[bad])} at position {bad}): '{harmless(value)}'",
            field,
        )
    return value.strip()


def parse_cidr(value: object, field: str = "cidr") -> Network:
    """Parse an IPv4 CIDR in strict form (``10.0.0.0/16``, not ``10.0.0.1/16``)."""
    if not isinstance(value, str) or "/" not in value:
        raise RuleViolation(
            "INVALID_ARGUMENT",
            f"{field} {shown(value)} is not an IPv4 CIDR like 10.0.0.0/16",
            field,
        )
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise RuleViolation(
            "INVALID_ARGUMENT", f"{field} {shown(value)} is not a valid IPv4 CIDR: {exc}", field
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise RuleViolation("INVALID_ARGUMENT", f"{field} {value!r} is not IPv4", field)
    return net


def check_vpc_cidr(value: object, field: str = "cidr") -> Network:
    """A CIDR that AWS accepts as a VPC's primary block: /16 to /28, private-use ranges."""
    net = parse_cidr(value, field)
    if not 16 <= net.prefixlen <= 28:
        raise RuleViolation(
            "INVALID_ARGUMENT",
            f"{field} {value!r} has prefix /{net.prefixlen}; a VPC needs /16 to /28",
            field,
        )
    return net


def overlaps(a: str | Network, b: str | Network) -> bool:
    """Whether two CIDRs share at least one address."""
    na = a if isinstance(a, Network) else parse_cidr(a)
    nb = b if isinstance(b, Network) else parse_cidr(b)
    return na.overlaps(nb)


def contains_ip(cidr: str, host: str) -> bool:
    """Whether ``host`` is an IPv4 address inside ``cidr``; host names are never inside."""
    try:
        return ipaddress.ip_address(host) in parse_cidr(cidr)
    except ValueError:
        return False


def check_same_region(deployment_region: str, peer_region: str) -> None:
    if deployment_region != peer_region:
        raise RuleViolation(
            "REGION_MISMATCH",
            f"peer VPC is in {peer_region} but the deployment is in {deployment_region}; "
            "peering works only inside one region",
            "region",
        )


def check_not_reserved(cidr: str, reserved: Iterable[str], field: str = "cidr") -> None:
    net = parse_cidr(cidr, field)
    for block in reserved:
        if net.overlaps(parse_cidr(block, "reservedCidr")):
            raise RuleViolation(
                "CIDR_RESERVED",
                f"peer CIDR {cidr} falls in {block}, which the platform reserves",
                field,
            )


def check_no_overlap(
    cidr: str,
    deployment_cidr: str,
    other_peerings: Iterable[tuple[str, str]] = (),
    field: str = "cidr",
) -> None:
    """Refuse a peer CIDR that overlaps the deployment or another peering ``(pcx, cidr)``."""
    net = parse_cidr(cidr, field)
    if net.overlaps(parse_cidr(deployment_cidr, "deploymentCidr")):
        raise RuleViolation(
            "CIDR_OVERLAP",
            f"peer CIDR {cidr} overlaps the deployment CIDR {deployment_cidr}",
            field,
        )
    for pcx, other in other_peerings:
        if net.overlaps(parse_cidr(other, "peeringCidr")):
            raise RuleViolation(
                "CIDR_OVERLAP",
                f"peer CIDR {cidr} overlaps {other} of peering {pcx} on this deployment",
                field,
            )


def check_peer_cidr(
    cidr: str,
    *,
    deployment_cidr: str,
    reserved: Iterable[str],
    other_peerings: Iterable[tuple[str, str]] = (),
    field: str = "cidr",
) -> None:
    """All CIDR rules for a requester VPC block, in the order the platform applies them."""
    check_not_reserved(cidr, reserved, field)
    check_no_overlap(cidr, deployment_cidr, other_peerings, field)


def parse_ports(values: str | Sequence[str], field: str = "ports") -> tuple[int, ...]:
    """Inbound ports as the operator writes them, on the command line (``--port`` repeated)
    or in the form (``5432, 9092``): TCP port numbers, or ``all`` (or nothing) for all
    traffic, which is ``()``. ``all`` mixed with numbers is refused: it cannot say both."""
    texts = [values] if isinstance(values, str) else list(values)
    words = [w for text in texts for w in text.replace(",", " ").split()]
    if all(w.lower() == "all" for w in words):
        return ()
    ports: set[int] = set()
    for word in words:
        if word.lower() == "all":
            raise RuleViolation(
                "INVALID_ARGUMENT",
                f"{field}: 'all' cannot be mixed with port numbers",
                field,
            )
        if not word.isdigit():
            raise RuleViolation(
                "INVALID_ARGUMENT", f"{field}: {word!r} is not a port number", field
            )
        port = int(word)
        if not 1 <= port <= 65535:
            raise RuleViolation(
                "INVALID_ARGUMENT", f"{field}: port {port} is not in 1-65535", field
            )
        ports.add(port)
    return tuple(sorted(ports))
