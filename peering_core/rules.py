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
from .printable import harmless, shown

DEFAULT_RESERVED_CIDRS: tuple[str, ...] = ("100.0.0.0/8", "101.0.0.0/8")

PCX_RE = re.compile(r"pcx-[0-9a-f]{8,17}")
VPC_RE = re.compile(r"vpc-[0-9a-f]{8,17}")
_RTB_RE = re.compile(r"rtb-[0-9a-f]{8,17}")
_SG_RE = re.compile(r"sg-[0-9a-f]{8,17}")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]")
TENANT_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# A host name; to it an IPv4 address is one too. At most 253 characters.
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
HOSTNAME_RE = re.compile(rf"({_LABEL}\.)*{_LABEL}")
HOSTNAME_LENGTH = 253

# What a name may not hold: control characters (C0, DEL, C1), every separator but the space,
# format characters (bidi overrides, zero-width joiners, BOM…), surrogates and private use —
# Unicode 14's Cc, Zs, Zl, Zp, Cf, Cs and Co. A fixed table rather than Python's own Unicode
# version, so the API's document says the same on every server; a terminal acts on none of
# what it leaves (unassigned code points included, which output escapes anyway).
_NAME_REFUSED = (
    (0x0, 0x1F), (0x7F, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000),
    (0xD800, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip


def _class_item(point: int) -> str:
    # \uXXXX reads the same in Python's re and ECMA-262 (JSON Schema's patterns); a character
    # beyond the BMP is written as itself (JSON carries it as a surrogate pair).
    return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(
        _class_item(a) if a == b else f"{_class_item(a)}-{_class_item(b)}" for a, b in ranges
    )


_NAME_REFUSED_RE = re.compile(f"[{_class(_NAME_REFUSED)}]")
# A name as a JSON Schema pattern: something besides spaces, nothing refused. Without the
# surrogates: a string of JSON Schema is Unicode scalar values, which they are not (validators
# in other languages cannot even compile the range); the server refuses an unpaired one.
_SCHEMA_REFUSED = _class(
    (max(a, 0xE000), b) if a <= 0xDFFF <= b else (a, b)
    for a, b in _NAME_REFUSED
    if not (a >= 0xD800 and b <= 0xDFFF)
)
NAME_PATTERN = f"^ *[^ {_SCHEMA_REFUSED}][^{_SCHEMA_REFUSED}]*$"


def _network(prefix: int) -> str:
    """A regular expression of every IPv4 network ``a.b.c.d/prefix`` (host bits zero)."""
    octets = []
    for i in range(4):
        bits = min(max(prefix - 8 * i, 0), 8)  # of the network, in this octet
        if bits == 8:
            octets.append(r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])")
        else:
            octets.append("(" + "|".join(str(n) for n in range(0, 256, 2 ** (8 - bits))) + ")")
    return r"\.".join(octets) + f"/{prefix}"


# What ``check_vpc_cidr`` takes, as one JSON Schema pattern: /16 to /28, host bits zero.
VPC_CIDR_PATTERN = "^(" + "|".join(_network(p) for p in range(16, 29)) + ")$"

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
    nothing a terminal would act on (no control, separator, format, surrogate or private-use
    character; see ``_NAME_REFUSED``). Returned without surrounding spaces."""
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
    bad = _NAME_REFUSED_RE.search(value)
    if bad is not None:
        raise RuleViolation(
            "INVALID_ARGUMENT",
            f"{field} holds a control character or an unpaired surrogate "
            f"({harmless(bad.group())} at position {bad.start()}): '{harmless(value)}'",
            field,
        )
    return value.strip()


def check_tenant_id(value: object, field: str = "tenantId") -> str:
    return _check_id(value, TENANT_ID_RE, field, "tenant id (like t1a2b3c4)")


def check_host(value: object, field: str = "host") -> str:
    """A resource's host: an IPv4 address or a host name, at most 253 characters."""
    if isinstance(value, str) and len(value) <= HOSTNAME_LENGTH and HOSTNAME_RE.fullmatch(value):
        return value
    raise RuleViolation(
        "INVALID_ARGUMENT",
        f"{field} {shown(value)} is neither an IPv4 address nor a host name of at most "
        f"{HOSTNAME_LENGTH} characters",
        field,
    )


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
    if str(net) != value:
        # Python also reads a netmask (10.0.0.0/255.255.0.0) or a zero-padded prefix; the API
        # documents one spelling, so one is taken.
        raise RuleViolation("INVALID_ARGUMENT", f"{field} {shown(value)}: write it as {net}", field)
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
