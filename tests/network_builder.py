"""What the reachability stories build on the customer's side behind the tool's back: prefix
lists, rules and routes through them, network ACLs, extra VPC blocks. Test-only: the operator's
gateway never makes these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peering_core.sandbox.seed import EstateBuilder


class NetworkBuilder(EstateBuilder):
    async def create_prefix_list(self, region: str, name: str, cidrs: Sequence[str]) -> str:
        raw = await self._call(
            region,
            "create_managed_prefix_list",
            PrefixListName=name,
            AddressFamily="IPv4",
            MaxEntries=10,
            Entries=[{"Cidr": c, "Description": name} for c in cidrs],
        )
        return str(raw["PrefixList"]["PrefixListId"])

    async def add_to_prefix_list(
        self, region: str, prefix_list_id: str, version: int, cidr: str
    ) -> None:
        await self._call(
            region,
            "modify_managed_prefix_list",
            PrefixListId=prefix_list_id,
            CurrentVersion=version,
            AddEntries=[{"Cidr": cidr}],
        )

    async def aws_managed_list(self, region: str, suffix: str) -> str:
        """An AWS-managed list by the end of its name (``s3``, ``dynamodb``)."""
        lists = await self.describe_prefix_lists(region)
        return next(p.id for p in lists if p.aws_managed and p.name.endswith(f".{suffix}"))

    async def allow_through_prefix_list(
        self, region: str, group_id: str, prefix_list_id: str, port: int | None
    ) -> None:
        permission: dict[str, Any] = {
            "IpProtocol": "-1" if port is None else "tcp",
            "PrefixListIds": [{"PrefixListId": prefix_list_id, "Description": "by hand"}],
        }
        if port is not None:
            permission |= {"FromPort": port, "ToPort": port}
        await self._call(
            region, "authorize_security_group_ingress", GroupId=group_id, IpPermissions=[permission]
        )

    async def create_network_acl(self, region: str, vpc_id: str, subnet_ids: Sequence[str]) -> str:
        """A new ACL (nothing but the final ``*`` deny) that now serves ``subnet_ids``."""
        raw = await self._call(region, "create_network_acl", VpcId=vpc_id)
        acl_id = str(raw["NetworkAcl"]["NetworkAclId"])
        described = await self._call(region, "describe_network_acls")
        for acl in described["NetworkAcls"]:
            for assoc in acl.get("Associations") or ():
                if assoc.get("SubnetId") in subnet_ids:
                    await self._call(
                        region,
                        "replace_network_acl_association",
                        AssociationId=assoc["NetworkAclAssociationId"],
                        NetworkAclId=acl_id,
                    )
        return acl_id

    async def acl_of(self, region: str, subnet_id: str) -> str:
        acls = await self.describe_network_acls(region)
        return next(a.id for a in acls if subnet_id in a.subnet_ids)

    async def add_vpc_block(self, region: str, vpc_id: str, cidr: str) -> None:
        await self._call(region, "associate_vpc_cidr_block", VpcId=vpc_id, CidrBlock=cidr)
