"""Pydantic models shared by the platform, the core library and the dashboard.

Platform models serialise with the public Platform API's field names (``deploymentID``,
``createAt`` …); AWS models use plain snake_case and are built only by ``aws.py``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    """A platform API object: immutable, camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class PlatformStatus(StrEnum):
    """Platform-side peering states."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    DELETING = "deleting"


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


class DeploymentVpc(ApiModel):
    """What the operator used to copy by hand from the platform console (step 1)."""

    deployment_id: str = Field(alias="deploymentID")
    region: str
    vpc_id: str = Field(alias="vpcId")
    cidr: str
    account_id: str = Field(alias="accountId")
    reserved_cidrs: tuple[str, ...] = Field(alias="reservedCidrs")
    route_table_ids: tuple[str, ...] = Field(default=(), alias="routeTableIds")


class PlatformPeering(ApiModel):
    """The platform's record of one peering (the operator's confirmation, step 4)."""

    peering_id: str = Field(alias="peeringId")
    deployment_id: str = Field(alias="deploymentID")
    account_id: str = Field(alias="accountId")
    vpc_id: str = Field(alias="vpcId")
    cidr: str
    region: str
    status: PlatformStatus
    reason: str | None = None
    create_at: datetime = Field(alias="createAt")
    update_at: datetime = Field(alias="updateAt")


class Resource(ApiModel):
    """A data integration of a deployment; its host may sit inside a peered VPC."""

    id: str = Field(alias="resourceID")
    deployment_id: str = Field(alias="deploymentID")
    name: str
    type: str
    host: str
    port: int
    create_at: datetime = Field(alias="createAt")


class ErrorBody(ApiModel):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


# --- AWS side -------------------------------------------------------------------------------


class AwsModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class PeeringSide(AwsModel):
    owner_id: str
    vpc_id: str
    region: str
    cidr: str | None = None
    cidrs: tuple[str, ...] = ()


class AwsPeering(AwsModel):
    """A VPC peering connection (``pcx-…``) as EC2 describes it."""

    id: str
    status: str
    status_message: str = ""
    requester: PeeringSide
    accepter: PeeringSide
    tags: dict[str, str] = Field(default_factory=dict)
    expiration_time: datetime | None = None


class Vpc(AwsModel):
    id: str
    region: str
    owner_id: str
    cidr: str
    cidrs: tuple[str, ...] = ()
    is_default: bool = False
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")


class Subnet(AwsModel):
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str = ""


class Route(AwsModel):
    destination: str
    target_kind: Literal["local", "pcx", "igw", "nat", "tgw", "eni", "instance", "vgw", "other"]
    target_id: str
    state: str = "active"


class RouteTable(AwsModel):
    id: str
    vpc_id: str
    main: bool = False
    subnet_ids: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)

    def route_to(self, destination: str) -> Route | None:
        """The route whose destination is exactly ``destination``."""
        return next((r for r in self.routes if r.destination == destination), None)


class SecurityGroup(AwsModel):
    id: str
    vpc_id: str
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class SecurityGroupRule(AwsModel):
    id: str
    group_id: str
    is_egress: bool
    protocol: str  # "-1" for all traffic
    from_port: int | None = None
    to_port: int | None = None
    cidr: str | None = None
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


class NetworkInterface(AwsModel):
    id: str
    vpc_id: str
    subnet_id: str
    private_ips: tuple[str, ...]
    group_ids: tuple[str, ...]
    description: str = ""


class CallerIdentity(AwsModel):
    account_id: str
    arn: str
