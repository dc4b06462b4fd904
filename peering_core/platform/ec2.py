"""The EC2 calls only the platform makes: building deployment VPCs, accepting and rejecting
peerings, and assuming roles. The operator's gateway (:mod:`peering_core.aws`) has none of
them; this one adds them to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import SecretStr

from ..aws import AwsAccess, Ec2Gateway, tagged
from ..errors import AwsError

# botocore's own attempts per platform call: few, so a request that needs AWS while it is
# down answers in seconds; background work is retried by the platform itself, for as long as
# it takes (eight attempts with backoff made a confirm wait 77 s for its answer).
PLATFORM_AWS_ATTEMPTS = 3


class PlatformEc2(Ec2Gateway):
    """EC2 for the platform's own AWS account (and the sandbox, which builds both sides)."""

    def __init__(
        self,
        access: AwsAccess | None = None,
        *,
        default_region: str = "us-east-1",
        max_attempts: int = PLATFORM_AWS_ATTEMPTS,
    ) -> None:
        super().__init__(access, default_region=default_region, max_attempts=max_attempts)
        self._on_error: Callable[[AwsError], None] | None = None

    def count_errors(self, on_error: Callable[[AwsError], None]) -> None:
        """Tell ``on_error`` of every call that fails (after botocore's own attempts)."""
        self._on_error = on_error

    def _failed(self, exc: AwsError) -> None:
        if self._on_error is not None:
            self._on_error(exc)

    async def _call(self, region: str, operation: str, service: str = "ec2", **params: Any) -> Any:
        try:
            return await super()._call(region, operation, service, **params)
        except AwsError as exc:
            self._failed(exc)
            raise

    async def _pages(
        self, region: str, operation: str, key: str, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in super()._pages(region, operation, key, **params):
                yield item
        except AwsError as exc:
            self._failed(exc)
            raise

    async def assume_role(self, role_arn: str, session_name: str) -> AwsAccess:
        """Credentials for ``role_arn``; on moto, any account id in the ARN becomes that account."""
        raw = await self._call(
            self.default_region,
            "assume_role",
            service="sts",
            RoleArn=role_arn,
            RoleSessionName=session_name,
        )
        creds = raw["Credentials"]
        return AwsAccess(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=SecretStr(creds["SecretAccessKey"]),
            session_token=SecretStr(creds["SessionToken"]),
            endpoint_url=self.access.endpoint_url,
        )

    async def accept_peering(self, region: str, peering_id: str) -> str:
        """Accept the pcx; its state as AWS answers (``active``, or ``provisioning`` first)."""
        raw = await self._call(
            region, "accept_vpc_peering_connection", VpcPeeringConnectionId=peering_id
        )
        status = (raw.get("VpcPeeringConnection") or {}).get("Status") or {}
        return str(status.get("Code") or "provisioning")

    async def reject_peering(self, region: str, peering_id: str) -> None:
        await self._call(region, "reject_vpc_peering_connection", VpcPeeringConnectionId=peering_id)

    async def create_vpc(self, region: str, cidr: str, tags: dict[str, str]) -> str:
        raw = await self._call(region, "create_vpc", CidrBlock=cidr, **tagged("vpc", tags))
        return str(raw["Vpc"]["VpcId"])

    async def create_subnet(
        self, region: str, vpc_id: str, cidr: str, tags: dict[str, str] | None = None
    ) -> str:
        params: dict[str, Any] = {"VpcId": vpc_id, "CidrBlock": cidr}
        raw = await self._call(region, "create_subnet", **params, **tagged("subnet", tags))
        return str(raw["Subnet"]["SubnetId"])

    async def create_route_table(
        self, region: str, vpc_id: str, tags: dict[str, str] | None = None
    ) -> str:
        raw = await self._call(
            region, "create_route_table", VpcId=vpc_id, **tagged("route-table", tags)
        )
        return str(raw["RouteTable"]["RouteTableId"])

    async def associate_route_table(self, region: str, route_table_id: str, subnet_id: str) -> None:
        await self._call(
            region, "associate_route_table", RouteTableId=route_table_id, SubnetId=subnet_id
        )

    async def delete_subnet(self, region: str, subnet_id: str) -> None:
        await self._call(region, "delete_subnet", SubnetId=subnet_id)

    async def delete_route_table(self, region: str, route_table_id: str) -> None:
        await self._call(region, "delete_route_table", RouteTableId=route_table_id)

    async def delete_vpc(self, region: str, vpc_id: str) -> None:
        await self._call(region, "delete_vpc", VpcId=vpc_id)

    async def disassociate_route_table(self, region: str, route_table_id: str) -> None:
        """End every subnet association of the table (AWS ends them with the subnet; moto
        does not, and a table with associations cannot be deleted)."""
        raw = await self._call(region, "describe_route_tables", RouteTableIds=[route_table_id])
        for table in raw.get("RouteTables") or ():
            for association in table.get("Associations") or ():
                if association.get("Main") or not association.get("RouteTableAssociationId"):
                    continue
                await self._call(
                    region,
                    "disassociate_route_table",
                    AssociationId=association["RouteTableAssociationId"],
                )
