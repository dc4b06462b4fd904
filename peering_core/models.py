"""Pydantic models shared by the platform, the core library and the dashboard.

Platform models serialise with the public Platform API's field names (``deploymentID``,
``createAt`` …); AWS models use plain snake_case and are built only by ``aws.py``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def unchanged(previous: Mapping[K, T], key: K, new: T) -> T:
    """``previous[key]`` when it equals ``new``, else ``new``.

    Every poll parses and derives everything again; keeping the previous tick's object
    wherever nothing changed means an unchanged fleet holds one tick's objects, not two, and
    what is shared compares by identity on the next tick.
    """
    old = previous.get(key)
    return old if old is not None and old == new else new


class ApiModel(BaseModel):
    """A platform API object: immutable, camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class PlatformStatus(StrEnum):
    """Platform-side peering states."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    DELETING = "deleting"


class Role(StrEnum):
    """What a platform API key may do: ``admin`` every tenant and the keys; ``operator`` read
    and change its tenant's objects; ``viewer`` read them."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


# The tenant that owns what was made before tenants existed, and what the admin key creates
# without naming one (so scripts written for one tenant keep working).
DEFAULT_TENANT = "default"


class Tenant(ApiModel):
    """A customer of the platform: it owns deployments, their peerings and resources."""

    id: str = Field(alias="tenantId")
    name: str = Field(alias="tenantName")
    create_at: datetime = Field(alias="createAt")


class ApiKey(ApiModel):
    """A platform API key as listed: never its secret. ``key_id`` is the key itself (the
    Basic-auth user name, public like an AWS access key id)."""

    key_id: str = Field(alias="keyId")
    key: str
    role: Role
    tenant_id: str = Field(alias="tenantId")
    create_at: datetime = Field(alias="createAt")
    revoked_at: datetime | None = Field(default=None, alias="revokedAt")


class NewApiKey(ApiKey):
    """A key just made, with its secret: the one answer that ever carries it."""

    secret: SecretStr

    @field_serializer("secret", when_used="json")
    def _reveal(self, secret: SecretStr) -> str:
        return secret.get_secret_value()


class WhoAmI(ApiModel):
    """The key a request was made with: its role and tenant (``None`` for the admin)."""

    key: str
    role: Role
    tenant_id: str | None = Field(default=None, alias="tenantId")


class Deployment(ApiModel):
    id: str = Field(alias="deploymentID")
    name: str = Field(alias="deploymentName")
    deployment_type: str = Field(default="dedicated", alias="deploymentType")
    platform: str = "aws"
    region: str
    status: str
    version: str
    create_at: datetime = Field(alias="createAt")
    project_name: str = Field(default="default", alias="projectName")
    tenant_id: str | None = Field(default=None, alias="tenantId")


class DeploymentVpc(ApiModel):
    """What the operator used to copy by hand from the platform console (step 1)."""

    deployment_id: str = Field(alias="deploymentID")
    region: str
    vpc_id: str = Field(alias="vpcId")
    cidr: str
    account_id: str = Field(alias="accountId")
    reserved_cidrs: tuple[str, ...] = Field(alias="reservedCidrs")
    route_table_ids: tuple[str, ...] = Field(default=(), alias="routeTableIds")


RoutesHealth = Literal["ok", "repaired", "missing"]


class PlatformSide(ApiModel):
    """The deployment side of a peering as the platform last checked it: its pcx's state on
    AWS and its reverse routes (``ok``; ``repaired``: some were missing and were restored at
    that check; ``missing``: some could not be restored, ``missingRoutes`` says which)."""

    pcx_state: str | None = Field(default=None, alias="pcxState")
    routes: RoutesHealth = "ok"
    routes_repaired: int = Field(default=0, alias="routesRepaired")  # restored, all checks
    missing_routes: tuple[str, ...] = Field(default=(), alias="missingRoutes")


class PlatformPeering(ApiModel):
    """The platform's record of one peering (the operator's confirmation, step 4)."""

    peering_id: str = Field(alias="peeringId")
    deployment_id: str = Field(alias="deploymentID")
    account_id: str = Field(alias="accountId")
    vpc_id: str = Field(alias="vpcId")
    cidr: str  # the requester VPC's first block, as before ``cidrs``
    region: str
    status: PlatformStatus
    reason: str | None = None
    create_at: datetime = Field(alias="createAt")
    update_at: datetime = Field(alias="updateAt")
    tenant_id: str | None = Field(default=None, alias="tenantId")
    # Every IPv4 block of the requester VPC (``cidr`` first); empty from an older platform.
    cidrs: tuple[str, ...] = ()
    # Work that AWS keeps refusing or failing is retried, and says why: the last error, how
    # many attempts failed, and when the next one is due (``pending``/``deleting`` only).
    last_error: str | None = Field(default=None, alias="lastError")
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, alias="nextAttemptAt")
    platform_side: PlatformSide | None = Field(default=None, alias="platformSide")

    @property
    def retrying(self) -> bool:
        """Its work failed and will be tried again."""
        return self.last_error is not None and self.status in (
            PlatformStatus.PENDING,
            PlatformStatus.DELETING,
        )

    @property
    def requester_cidrs(self) -> tuple[str, ...]:
        """Every block the peering routes: ``cidrs``, or ``cidr`` alone from an older platform."""
        return self.cidrs or (self.cidr,)


class Resource(ApiModel):
    """A data integration of a deployment; its host may sit inside a peered VPC."""

    id: str = Field(alias="resourceID")
    deployment_id: str = Field(alias="deploymentID")
    name: str
    type: str
    host: str
    port: int
    create_at: datetime = Field(alias="createAt")
    tenant_id: str | None = Field(default=None, alias="tenantId")


class ErrorBody(ApiModel):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


# --- AWS side -------------------------------------------------------------------------------


# What EC2 describes is read again on every poll: thousands of route tables, groups and rules
# per region. They are frozen slotted dataclasses, built only by ``aws.py`` from botocore's
# parsed answers: a sixth of a pydantic model's memory (no ``__dict__``, no fields-set set)
# and two thirds of its construction time. Pydantic models that hold one (a peering view's pcx)
# serialise it as before.


@dataclass(frozen=True, slots=True, kw_only=True)
class PeeringSide:
    owner_id: str
    vpc_id: str
    region: str
    cidr: str | None = None
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsPeering:
    """A VPC peering connection (``pcx-…``) as EC2 describes it."""

    id: str
    status: str
    status_message: str = ""
    requester: PeeringSide
    accepter: PeeringSide
    tags: dict[str, str] = field(default_factory=dict)
    expiration_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Vpc:
    id: str
    region: str
    owner_id: str
    cidr: str
    cidrs: tuple[str, ...] = ()
    is_default: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str = ""


RouteTarget = Literal["local", "pcx", "igw", "nat", "tgw", "eni", "instance", "vgw", "other"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One route; ``destination`` is a CIDR, or the ``pl-…`` id of a prefix-list route."""

    destination: str
    target_kind: RouteTarget
    target_id: str
    state: str = "active"

    @property
    def via_prefix_list(self) -> bool:
        return self.destination.startswith("pl-")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteTable:
    id: str
    vpc_id: str
    main: bool = False
    subnet_ids: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    # Kept apart: most readers (create, delete, the platform) know CIDR routes only, and an S3
    # gateway endpoint's route (a prefix list via vpce-…) is in most tables.
    prefix_list_routes: tuple[Route, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    def route_to(self, destination: str) -> Route | None:
        """The route whose destination is exactly ``destination``."""
        return next((r for r in self.routes if r.destination == destination), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGroup:
    id: str
    vpc_id: str
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGroupRule:
    id: str
    group_id: str
    is_egress: bool
    protocol: str  # "-1" for all traffic
    from_port: int | None = None
    to_port: int | None = None
    cidr: str | None = None
    prefix_list_id: str | None = None
    description: str = ""

    def covers_port(self, port: int | None) -> bool:
        """Whether the rule lets ``port`` through (``None`` means all traffic is needed)."""
        if self.protocol == "-1":
            return True
        if port is None:
            return False
        lo = self.from_port if self.from_port is not None else 0
        hi = self.to_port if self.to_port is not None else 65535
        return self.protocol in ("tcp", "6") and lo <= port <= hi


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixList:
    """A managed prefix list (customer- or AWS-managed) and the CIDRs it holds.

    ``entries`` is ``None`` when they were not read (a list no route or rule refers to).
    """

    id: str
    name: str
    owner_id: str
    version: int | None = None
    address_family: str = "IPv4"
    entries: tuple[str, ...] | None = None

    @property
    def aws_managed(self) -> bool:
        return self.owner_id == "AWS"


@dataclass(frozen=True, slots=True, kw_only=True)
class AclEntry:
    """One numbered entry of a network ACL. ``protocol`` is EC2's number ("-1" all, "6" tcp);
    ports ``None`` mean every port."""

    rule_number: int
    egress: bool
    protocol: str
    allow: bool
    cidr: str
    from_port: int | None = None
    to_port: int | None = None

    def matches_tcp(self) -> bool:
        return self.protocol in ("-1", "6", "tcp")

    def port_range(self) -> tuple[int, int]:
        if self.protocol == "-1" or self.from_port is None:
            return (0, 65535)
        return (self.from_port, self.to_port if self.to_port is not None else self.from_port)

    def describe(self) -> str:
        """``#100 deny tcp 5432 from 10.200.0.0/16`` as an operator reads it."""
        number = "*" if self.rule_number >= DEFAULT_ACL_RULE else f"#{self.rule_number}"
        action = "allow" if self.allow else "deny"
        if self.protocol == "-1":
            what = "all traffic"
        else:
            lo, hi = self.port_range()
            name = {"6": "tcp", "17": "udp", "1": "icmp"}.get(self.protocol, self.protocol)
            what = f"{name} {lo}" if lo == hi else f"{name} {lo}-{hi}"
        way = "to" if self.egress else "from"
        return f"{number} {action} {what} {way} {self.cidr}"


# The implicit last entry of every network ACL (shown as ``*``): deny everything.
DEFAULT_ACL_RULE = 32767


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkAcl:
    id: str
    vpc_id: str
    is_default: bool = False
    subnet_ids: tuple[str, ...] = ()
    entries: tuple[AclEntry, ...] = ()

    def rules(self, *, egress: bool) -> list[AclEntry]:
        """One direction's entries in evaluation order (lowest number first)."""
        return sorted((e for e in self.entries if e.egress == egress), key=lambda e: e.rule_number)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkInterface:
    id: str
    vpc_id: str
    subnet_id: str
    private_ips: tuple[str, ...]
    group_ids: tuple[str, ...]
    description: str = ""


class CallerIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    arn: str
