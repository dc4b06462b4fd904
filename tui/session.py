"""What the dashboard is connected to: a platform client, every customer account's EC2
gateway, and their names.

Knows nothing of the UI (toolong habit): the app opens a session in a worker and shows what
:meth:`Session.describe` says. The platform secret is used to build the client and never kept
in anything that is displayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from peering_core.access import tenant_names, viewer_reason, whoami
from peering_core.accounts import Accounts
from peering_core.audit import check_audit_log, identify
from peering_core.aws import Ec2Gateway
from peering_core.config import Connection
from peering_core.errors import AuditLogUnwritable, PeeringError
from peering_core.models import CallerIdentity, WhoAmI
from peering_core.platform_client import PlatformClient
from peering_core.printable import harmless

from .formatting import arn_principal

if TYPE_CHECKING:
    from peering_core.sandbox.process import SandboxProcess
    from peering_core.sandbox.servers import Sandbox


@dataclass
class Session:
    """Both sides' clients, what they point at, and whether closing must stop a sandbox."""

    platform: PlatformClient
    accounts: Accounts
    # New clients on the same platform and AWS accounts, for another thread's event loop.
    clients: Callable[[], tuple[PlatformClient, Accounts]]
    platform_url: str
    platform_key: str = ""
    sandbox: Sandbox | None = None
    # The sandbox process this session started (nothing configured); it stops with it.
    sandbox_process: SandboxProcess | None = None
    identity: CallerIdentity | None = None
    identity_error: str | None = None
    # What the platform key may do, asked once when the session opens.
    access: WhoAmI | None = None
    access_error: str | None = None
    # Tenant id -> name, for the admin key (the dashboard then shows a TENANT column).
    tenants: dict[str, str] | None = None
    # Why nothing may be changed from this session (a viewer key, an unwritable audit log),
    # as a badge's few words and as the full reason.
    read_only_label: str | None = None
    read_only_reason: str | None = None

    @classmethod
    def for_sandbox(cls, sandbox: Sandbox) -> Session:
        """A session on a running sandbox (the customer's account is the AWS side)."""
        return cls(
            platform=sandbox.client(),
            accounts=Accounts.open(sandbox.accounts()),
            clients=lambda: (sandbox.client(), Accounts.open(sandbox.accounts())),
            platform_url=sandbox.platform_url,
            platform_key=sandbox.key,
            sandbox=sandbox,
        )

    @classmethod
    def for_sandbox_process(cls, process: SandboxProcess, connection: Connection) -> Session:
        """A session on the sandbox process the dashboard started; closing it stops it."""
        session = cls.for_connection(connection)
        session.sandbox_process = process
        return session

    @property
    def on_sandbox(self) -> bool:
        return self.sandbox is not None or self.sandbox_process is not None

    @classmethod
    def for_connection(cls, connection: Connection) -> Session:
        """A session on a configured platform and the customer's accounts (the AWS default
        chain, or a profile, without ``[[accounts]]``)."""

        def clients() -> tuple[PlatformClient, Accounts]:
            return connection.platform_client(), connection.open_accounts()

        platform, accounts = clients()
        return cls(
            platform=platform,
            accounts=accounts,
            clients=clients,
            platform_url=connection.platform_url,
            platform_key=connection.key_id,
        )

    @property
    def ec2(self) -> Ec2Gateway:
        """The first account's gateway (the only one without ``[[accounts]]``)."""
        return self.accounts.first.ec2

    async def gateway_for(self, deployment_id: str, peering_id: str) -> Ec2Gateway:
        """The gateway of the account that requested ``peering_id``: diffs, fixes, paths and
        deletes act there."""
        link = await self.accounts.of_peering(self.platform, deployment_id, peering_id)
        return link.ec2

    def gateway_named(self, account: str) -> Ec2Gateway:
        """The gateway of the account called ``account`` (the first for "")."""
        return self.accounts.named(account).ec2 if account else self.ec2

    async def identify(self) -> None:
        """Ask STS who the AWS side is, the platform what its key may do and, for the admin,
        the tenants' names; check that the audit log can be written. Failures are kept to
        show, not raised."""
        self.identity, self.identity_error = await identify(self.ec2)
        try:
            self.access = await whoami(self.platform)
        except PeeringError as exc:
            self.access_error = exc.summary
        self.tenants = await tenant_names(self.platform, self.access)
        viewer = viewer_reason(self.access)
        if viewer is not None:
            self.read_only_label, self.read_only_reason = "viewer key", viewer
            return
        try:
            await asyncio.to_thread(check_audit_log)
        except AuditLogUnwritable as exc:
            self.read_only_label, self.read_only_reason = "audit log", exc.message

    def describe(self) -> str:
        """``sandbox · platform 127.0.0.1:8080 · AWS 210987654321 (operator)``."""
        where = urlsplit(self.platform_url)
        platform = where.netloc if self.on_sandbox else self.platform_url
        if self.accounts.configured:
            aws = f"AWS: {len(self.accounts.links)} accounts"
        elif self.identity is not None:
            aws = f"AWS {self.identity.account_id} ({arn_principal(self.identity.arn)})"
        elif self.identity_error is not None:
            aws = "AWS identity unknown"
        else:
            aws = "AWS …"
        prefix = "sandbox · " if self.on_sandbox else ""
        role = f" ({self.access.role.value})" if self.access is not None else ""
        return harmless(f"{prefix}platform {platform}{role} · {aws}")

    async def close(self) -> None:
        """Close both clients; stop the sandbox process when this session started it."""
        await self.platform.close()
        await self.accounts.close()
        if self.sandbox_process is not None:
            await asyncio.to_thread(self.sandbox_process.stop)


def spawn_sandbox() -> SandboxProcess:
    """Start the sandbox process (it serves before it seeds; see ``SandboxProcess``)."""
    # Imported only now: a dashboard on a configured platform loads no sandbox code.
    from peering_core.sandbox.process import SandboxProcess

    return SandboxProcess.spawn()
