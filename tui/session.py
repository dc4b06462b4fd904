"""What the dashboard is connected to: a platform client, an EC2 gateway, and their names.

Knows nothing of the UI (toolong habit): the app opens a session in a worker and shows what
:meth:`Session.describe` says. The platform secret is used to build the client and never kept
in anything that is displayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from peering_core.audit import AuditLog
from peering_core.aws import AwsError, Ec2Gateway
from peering_core.config import Connection
from peering_core.models import CallerIdentity
from peering_core.platform.client import PlatformClient

from .render import arn_principal

if TYPE_CHECKING:
    from peering_core.sandbox import Sandbox

# The sandbox platform accepts a confirmed peering after this long, so the dashboard has a state
# change to show (the same default as ``peering-tui sandbox``).
SANDBOX_ACCEPT_DELAY = 3.0


@dataclass
class Session:
    """Both sides' clients, what they point at, and whether closing must stop a sandbox."""

    platform: PlatformClient
    ec2: Ec2Gateway
    # New clients on the same platform and AWS side, for another thread's event loop.
    clients: Callable[[], tuple[PlatformClient, Ec2Gateway]]
    platform_url: str
    platform_key: str = ""
    sandbox: Sandbox | None = None
    owns_sandbox: bool = False
    identity: CallerIdentity | None = None
    identity_error: str | None = None

    @classmethod
    def for_sandbox(cls, sandbox: Sandbox, *, owns: bool = False) -> Session:
        """A session on a running sandbox (the customer's account is the AWS side)."""
        return cls(
            platform=sandbox.client(),
            ec2=sandbox.customer_gateway(),
            clients=lambda: (sandbox.client(), sandbox.customer_gateway()),
            platform_url=sandbox.platform_url,
            platform_key=sandbox.key,
            sandbox=sandbox,
            owns_sandbox=owns,
        )

    @classmethod
    def for_connection(cls, connection: Connection) -> Session:
        """A session on a configured platform and the AWS default chain (or profile)."""

        def clients() -> tuple[PlatformClient, Ec2Gateway]:
            platform = PlatformClient(
                connection.platform_url,
                connection.platform_key,
                connection.platform_secret,
                verify=connection.verify_tls,
            )
            return platform, Ec2Gateway(connection.aws)

        platform, ec2 = clients()
        return cls(
            platform=platform,
            ec2=ec2,
            clients=clients,
            platform_url=connection.platform_url,
            platform_key=connection.key_id,
        )

    async def identify(self) -> None:
        """Ask STS who the AWS side is; a failure is kept to show, not raised."""
        try:
            self.identity = await self.ec2.caller_identity()
            self.identity_error = None
        except (AwsError, OSError) as exc:
            self.identity_error = str(exc)

    def describe(self) -> str:
        """``sandbox · platform 127.0.0.1:8080 · AWS 210987654321 (operator)``."""
        where = urlsplit(self.platform_url)
        platform = where.netloc if self.sandbox is not None else self.platform_url
        if self.identity is not None:
            aws = f"AWS {self.identity.account_id} ({arn_principal(self.identity.arn)})"
        elif self.identity_error is not None:
            aws = "AWS identity unknown"
        else:
            aws = "AWS …"
        prefix = "sandbox · " if self.sandbox is not None else ""
        return f"{prefix}platform {platform} · {aws}"

    def audit_actor(self) -> dict[str, str]:
        """Who changes things, as the CLI's audit log says it: AWS caller and platform key."""
        if self.identity is not None:
            actor = {"awsArn": self.identity.arn, "awsAccount": self.identity.account_id}
        else:
            actor = {"awsArn": f"unknown ({self.identity_error or 'not asked yet'})"}
        actor["platformKey"] = self.platform_key
        return actor

    async def audit(
        self, action: str, target: dict[str, str], result: str, detail: dict[str, Any]
    ) -> str | None:
        """Append one audit record (off the event loop); the error in words if it failed."""
        log = AuditLog(actor=self.audit_actor())
        try:
            await asyncio.to_thread(
                log.record, action, target, result, detail | {"via": "dashboard"}
            )
        except OSError as exc:
            return f"audit log {log.path}: {exc}"
        return None

    async def close(self) -> None:
        """Close both clients; stop the sandbox when this session started it."""
        await self.platform.close()
        await self.ec2.close()
        if self.owns_sandbox and self.sandbox is not None:
            await asyncio.to_thread(self.sandbox.stop)


async def start_sandbox(accept_delay: float = SANDBOX_ACCEPT_DELAY) -> Sandbox:
    """Start the embedded sandbox without blocking the event loop (it is not seeded yet)."""
    from peering_core.sandbox import Sandbox  # only now: see the note in :mod:`tui.app`

    return await asyncio.to_thread(Sandbox.start, accept_delay=accept_delay)
