"""The customer's AWS accounts: each one configured under ``[[accounts]]`` (or the standard AWS
chain alone, as before there were several), its EC2 gateway, who it is, and — when it cannot
be read — what the operator runs to fix it.

An account is found for a peering by the pcx's requester account id: the platform records it
when the peering is confirmed, and EC2 shows it as the pcx's requester owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict

from .aws import AwsAccess, Ec2Gateway
from .errors import AwsError, InvalidInput, PlatformApiError, RuleViolation, UnknownPeering
from .models import PlatformPeering
from .platform_client import PlatformClient
from .rules import check_peering_id

# The name of the standard chain's account when no ``[[accounts]]`` are configured.
DEFAULT_ACCOUNT = "default"
# What a peering's account reads as when its requester is none of the accounts read.
NOT_CONFIGURED = "not configured"

_SSO_CODES = frozenset({"SSOError", "SSOTokenLoadError", "UnauthorizedSSOTokenError"})
_EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRetrievalError"}
)
_NO_CREDENTIALS = frozenset({"NoCredentialsError", "PartialCredentialsError"})
_UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectionError",
    }
)


@dataclass(frozen=True)
class Account:
    """One customer AWS account as configured: a name, how it is reached, where it is read."""

    name: str
    access: AwsAccess = field(default_factory=AwsAccess)
    # The regions to read (None: every region with a deployment).
    regions: tuple[str, ...] | None = None
    # False for the standard chain when no [[accounts]] are configured.
    configured: bool = True

    @property
    def expected_id(self) -> str | None:
        """The account id a role ARN names (``arn:aws:iam::ID:role/…``), known before any call."""
        parts = (self.access.role_arn or "").split(":")
        return parts[4] if len(parts) > 5 and parts[4].isdigit() else None

    def how(self) -> str:
        """How it is reached, in a few words (never a secret)."""
        via = f"profile {self.access.profile}" if self.access.profile else "the standard AWS chain"
        if self.access.role_arn:
            return f"role {self.access.role_arn} assumed with {via}"
        return via

    def reads(self, region: str) -> bool:
        return self.regions is None or region in self.regions

    def fix(self, error: AwsError | str) -> str | None:
        """What to run or change so that this account can be read again."""
        code = error.code if isinstance(error, AwsError) else ""
        text = str(error)
        profile = self.access.profile
        if code in _SSO_CODES or ("sso" in text.lower() and "token" in text.lower()):
            return f"run `aws sso login --profile {profile or '<profile>'}`"
        if code == "ProfileNotFound":
            return f"add profile {profile} to ~/.aws/config, or fix account {self.name}'s profile"
        if code in _EXPIRED_CODES:
            if profile:
                return (
                    f"refresh profile {profile}'s credentials (`aws sso login --profile {profile}`)"
                )
            return "refresh the credentials in the environment (AWS_SESSION_TOKEN has expired)"
        if code in _NO_CREDENTIALS:
            return (
                f"give profile {profile} credentials"
                if profile
                else "set AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and its secret)"
            )
        if isinstance(error, AwsError) and error.operation == "assume_role":
            external = " and its external id" if self.access.external_id else ""
            return (
                f"let {self.how().split(' assumed with ')[-1]} assume {self.access.role_arn} "
                f"(the role's trust policy{external})"
            )
        if code in _UNREACHABLE:
            return "check the network path to AWS (a proxy, AWS_ENDPOINT_URL, the endpoint)"
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return f"grant {self.how()} read access to EC2 (ec2:Describe*)"
        return None


class AccountRead(BaseModel):
    """How one account was read on a tick: who it is, and why it failed when it did."""

    model_config = ConfigDict(frozen=True)

    name: str
    account_id: str | None = None
    how: str = ""
    configured: bool = True
    regions: tuple[str, ...] = ()
    # Region (or "" for the whole account) -> what went wrong there.
    failed: dict[str, str] = {}
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def problem(self, region: str) -> str | None:
        """Why ``region`` of this account could not be read (None when it was)."""
        error = self.failed.get(region) or self.failed.get("")
        if error is None:
            return None
        return f"account {self.name} could not be read: {error}" + (
            f"; fix: {self.fix}" if self.fix else ""
        )


def account_json(read: AccountRead) -> dict[str, object]:
    """One account as ``ls --json`` and the detail screen show it."""
    return {
        "name": read.name,
        "accountId": read.account_id,
        "how": read.how,
        "ok": read.ok,
        "regions": list(read.regions),
        "error": next(iter(read.failed.values()), None),
        "failedRegions": dict(read.failed),
        "fix": read.fix,
    }


class AccountLink:
    """An account with its EC2 gateway and, once asked, its id."""

    def __init__(self, account: Account, ec2: Ec2Gateway) -> None:
        self.account = account
        self.ec2 = ec2
        self.account_id: str | None = account.expected_id
        self.identified = False
        self.error: AwsError | None = None

    @property
    def name(self) -> str:
        return self.account.name

    async def identify(self) -> AwsError | None:
        """Ask STS who this is, once (until it answers); its error when it does not."""
        if self.identified:
            return None
        try:
            identity = await self.ec2.caller_identity()
        except AwsError as exc:
            self.error = exc
            return exc
        self.account_id, self.identified, self.error = identity.account_id, True, None
        return None


GatewayFactory = Callable[[Account], Ec2Gateway]


class Accounts:
    """Every account's gateway, as one async context manager."""

    def __init__(self, links: Sequence[AccountLink]) -> None:
        if not links:
            raise ValueError("at least one account")
        self.links = tuple(links)

    @classmethod
    def open(
        cls,
        accounts: Sequence[Account],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> Accounts:
        """Gateways for ``accounts`` (opened lazily, closed with this object)."""
        if clock is None:
            return cls([AccountLink(a, Ec2Gateway(a.access)) for a in accounts])
        return cls([AccountLink(a, Ec2Gateway(a.access, clock=clock)) for a in accounts])

    @classmethod
    def single(cls, ec2: Ec2Gateway) -> Accounts:
        """One gateway as the standard chain's account (no ``[[accounts]]``)."""
        return cls([AccountLink(Account(DEFAULT_ACCOUNT, ec2.access, configured=False), ec2)])

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(*(link.ec2.close() for link in self.links))

    @property
    def configured(self) -> bool:
        """Whether these are ``[[accounts]]`` (an ACCOUNT column is worth showing)."""
        return any(link.account.configured for link in self.links)

    @property
    def first(self) -> AccountLink:
        return self.links[0]

    def call_count(self) -> int:
        return sum(sum(link.ec2.calls.values()) for link in self.links)

    async def identify(self) -> None:
        """Every account's id, concurrently (each asked once until it answers)."""
        await asyncio.gather(*(link.identify() for link in self.links))

    def owning(self, account_id: str | None) -> AccountLink | None:
        """The account whose id is ``account_id``, if it is one of these."""
        return next((x for x in self.links if account_id and x.account_id == account_id), None)

    def named(self, name: str | None) -> AccountLink:
        """The account called ``name`` (the only one when ``name`` is None and there is one)."""
        if name is None:
            if len(self.links) == 1:
                return self.first
            raise InvalidInput(
                "ACCOUNT_REQUIRED",
                f"--account: say which account ({', '.join(x.name for x in self.links)})",
            )
        for link in self.links:
            if link.name == name:
                return link
        raise InvalidInput(
            "ACCOUNT_NOT_FOUND",
            f"--account {name!r} is not configured; the accounts are: "
            f"{', '.join(x.name for x in self.links)}",
        )

    async def of_peering(
        self, platform: PlatformClient, deployment_id: str, peering_id: str
    ) -> AccountLink:
        """The account that requested ``peering_id``: by the platform's record of its
        requester account, else the account that sees the pcx (the first account when that
        cannot be told: what is asked about is then checked, and refused, as before)."""
        if len(self.links) == 1:
            return self.first
        try:
            check_peering_id(peering_id, "PCX")
            info = await platform.deployment_vpc(deployment_id)
        except (RuleViolation, PlatformApiError):
            return self.first
        await self.identify()
        try:
            record: PlatformPeering | None = await platform.peering(deployment_id, peering_id)
        except PlatformApiError:
            record = None
        if record is not None:
            found = self.owning(record.account_id)
            if found is not None:
                return found
            if all(link.account_id for link in self.links):
                raise UnknownPeering(
                    "ACCOUNT_NOT_CONFIGURED",
                    f"{peering_id} was requested by AWS account {record.account_id}, which is "
                    f"not configured: add it under [[accounts]] in the config file",
                )
        seen = await asyncio.gather(
            *(self._sees(link, info.region, peering_id) for link in self.links)
        )
        owners = [link for link, owner in zip(self.links, seen, strict=True) if owner]
        exact = [x for x, o in zip(self.links, seen, strict=True) if o and o == x.account_id]
        return (exact or owners or [self.first])[0]

    @staticmethod
    async def _sees(link: AccountLink, region: str, peering_id: str) -> str | None:
        try:
            pcx = await link.ec2.describe_peering(region, peering_id)
        except AwsError:
            return None
        return pcx.requester.owner_id if pcx is not None else None
