"""The sandbox: moto (standing in for AWS) and the platform API on loopback, and the
credentials of both AWS accounts.

Both servers run in threads of this process on free ports; everything else reaches them over
HTTP, exactly as it would reach AWS and a remote control plane. Two AWS accounts live on one
moto server: the platform's (moto's default account, reached with any plain keys) and the
customer's (STS ``AssumeRole`` into another account id).

moto describes a pcx with its requester VPC's first IPv4 block only (EC2 lists every block in
``CidrBlockSet``), so the sandbox's platform reads a requester VPC's blocks the one other way
moto allows: it assumes a role in the requester's account and describes the VPC
(:func:`requester_cidrs_on_moto`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from .. import rules
from ..accounts import Account
from ..aws import AwsAccess, Ec2Gateway, warm_up
from ..models import Deployment, NewApiKey
from ..platform.audit_log import PlatformAuditLog
from ..platform.ec2 import PlatformEc2
from ..platform.server import create_app
from ..platform.service import PlatformService, RequesterCidrs
from ..platform.store import Store
from ..platform_client import PlatformClient
from .moto_process import NO_DEFAULT_AMIS, MotoProcess, patch_moto
from .ports import free_port, free_socket
from .seed import (
    CUSTOMER_ACCOUNT_ID,
    CUSTOMER_ACCOUNT_NAME,
    STAGING_ACCOUNT_NAME,
    STAGING_ROLE_ARN,
    EstateBuilder,
    SeedReport,
    StageCallback,
    seed_estate,
    seed_staging,
)


class MotoServer:
    """moto's server on a free loopback port, in a thread of this process."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        os.environ.update(NO_DEFAULT_AMIS)  # read by moto as it makes each region's backend
        patch_moto()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every AWS resource of every account (moto state is per process)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def requester_cidrs_on_moto(platform_aws: AwsAccess) -> RequesterCidrs:
    """Every IPv4 block of a requester VPC, read as its own account (moto lets any role be
    assumed): what EC2's ``CidrBlockSet`` on the pcx tells a platform on AWS."""

    async def read(region: str, account_id: str, vpc_id: str) -> tuple[str, ...]:
        async with PlatformEc2(platform_aws, default_region=region) as sts:
            access = await sts.assume_role(
                f"arn:aws:iam::{account_id}:role/sandbox-platform", "requester-cidrs"
            )
        async with Ec2Gateway(access, default_region=region) as ec2:
            found = await ec2.describe_vpcs(region, [vpc_id])
        return found[0].cidrs if found else ()

    return read


class PlatformServer:
    """The platform API (uvicorn) in a thread with its own event loop."""

    def __init__(
        self,
        *,
        aws: AwsAccess,
        db_path: Path | str,
        key: str,
        secret: SecretStr,
        reserved_cidrs: Sequence[str] = rules.DEFAULT_RESERVED_CIDRS,
        accept_delay: float = 0.0,
        requests_per_minute: int = 6000,
        failed_logins_per_minute: int = 10,
        region: str = "us-east-1",
        audit_log: Path | None = None,
        forwarded_allow_ips: str | None = None,
        host: str = "127.0.0.1",
        work: dict[str, float] | None = None,
        log_path: Path | None = None,
        metrics_public: bool = False,
    ) -> None:
        """``forwarded_allow_ips``: the peers whose ``X-Forwarded-For`` is believed (none by
        default, as ``platform serve``). ``db_path`` may be a ``postgresql://`` URL; ``work``:
        the background work's settings (``lease_seconds``, ``retry_cap``, …) where they are
        not the service's defaults."""
        # The reconciler is off unless asked for: the sandbox's story keeps a peering running
        # on the platform whose pcx was deleted on AWS, for the dashboard to show.
        self.work = {"reconcile_seconds": 0.0, **(work or {})}
        self.metrics_public = metrics_public
        self.aws = aws
        self.log_path = log_path
        self._log_handler: logging.Handler | None = None
        self.db_path = db_path
        self.key = key
        self.secret = secret
        self.reserved_cidrs = tuple(reserved_cidrs)
        self.accept_delay = accept_delay
        self.requests_per_minute = requests_per_minute
        self.failed_logins_per_minute = failed_logins_per_minute
        self.region = region
        self.audit_log = audit_log
        self.forwarded_allow_ips = forwarded_allow_ips
        self.host = host
        self.url = ""
        self.service: PlatformService | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(
        self, timeout: float = 30.0, *, aws_ready: Callable[[], None] | None = None
    ) -> PlatformServer:
        """Serve; ``aws_ready`` blocks until AWS answers (the platform asks STS who it is as it
        starts): called once the app is built, so building it overlaps the wait."""
        if self.log_path is not None:
            # The platform's own log (a peering the demo fails on purpose, say) goes to a file:
            # on the terminal it would read as the sandbox's own error.
            handler = logging.FileHandler(self.log_path)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            self._log_handler = handler
            platform_log = logging.getLogger("peering_core.platform")
            platform_log.addHandler(handler)
            platform_log.propagate = False
        sock = free_socket(self.host)
        self.url = f"http://{self.host}:{sock.getsockname()[1]}"
        service = self.service = PlatformService(
            Store(self.db_path),
            PlatformEc2(self.aws, default_region=self.region),
            reserved_cidrs=self.reserved_cidrs,
            accept_delay=self.accept_delay,
            requester_cidrs=requester_cidrs_on_moto(self.aws),
            **self.work,  # type: ignore[arg-type]
        )
        app = create_app(
            service,
            key=self.key,
            secret=self.secret,
            requests_per_minute=self.requests_per_minute,
            failed_logins_per_minute=self.failed_logins_per_minute,
            audit=PlatformAuditLog(self.audit_log),
            metrics_public=self.metrics_public,
        )
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            proxy_headers=self.forwarded_allow_ips is not None,
            forwarded_allow_ips=self.forwarded_allow_ips,
        )
        server = uvicorn.Server(config)
        self._server = server
        if aws_ready is not None:
            aws_ready()

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to the starting thread
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="platform-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"platform server did not start: {self._error!r}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._log_handler is not None:
            platform_log = logging.getLogger("peering_core.platform")
            platform_log.removeHandler(self._log_handler)
            platform_log.propagate = not platform_log.handlers
            self._log_handler.close()
            self._log_handler = None


@dataclass
class Sandbox:
    """A moto server, the platform on loopback, and credentials for both AWS accounts."""

    moto: MotoServer | MotoProcess
    platform: PlatformServer
    key: str
    secret: SecretStr
    platform_aws: AwsAccess
    customer_aws: AwsAccess
    region: str = "us-east-1"
    owns_moto: bool = True
    workdir: Path | None = None
    deployments: list[Deployment] = field(default_factory=list)
    operator_key: NewApiKey | None = None  # a tenant's operator key, once seeded
    # A second customer account (staging), reached by assuming a role with the first's keys.
    second_account: bool = False

    @property
    def platform_url(self) -> str:
        return self.platform.url

    @classmethod
    def start(
        cls,
        *,
        moto: MotoServer | MotoProcess | None = None,
        owns_moto: bool | None = None,
        accept_delay: float = 0.0,
        reserved_cidrs: Sequence[str] = rules.DEFAULT_RESERVED_CIDRS,
        db_path: Path | str | None = None,
        requests_per_minute: int = 6000,
        failed_logins_per_minute: int = 10,
        forwarded_allow_ips: str | None = None,
        work: dict[str, float] | None = None,
        second_account: bool = False,
        metrics_public: bool = False,
    ) -> Sandbox:
        """Start (or reset and reuse) a moto server and start a fresh platform in front of it;
        ``second_account`` adds the customer's staging account (seeded by :meth:`seed`).

        ``owns_moto``: stop ``moto`` with the sandbox (default: only one it started itself).
        Blocking: call it through ``asyncio.to_thread`` from a running event loop.
        """
        given = moto is not None
        if owns_moto is None:
            owns_moto = not given
        if moto is None:
            moto = MotoServer().start()
        workdir = Path(tempfile.mkdtemp(prefix="peering-sandbox-"))
        platform_aws = AwsAccess(
            access_key_id="sandbox-platform",
            secret_access_key=SecretStr("sandbox-platform"),
            endpoint_url=moto.url,
        )
        key = "sandbox-" + secrets.token_hex(4)
        secret = SecretStr(secrets.token_urlsafe(24))
        warm_up()  # botocore loads while the platform is built and moto resets (or starts)
        # A shared moto forgets the last test; one in a process is waited for until it serves.
        platform = PlatformServer(
            aws=platform_aws,
            db_path=db_path or workdir / "platform.sqlite3",
            key=key,
            secret=secret,
            reserved_cidrs=reserved_cidrs,
            accept_delay=accept_delay,
            requests_per_minute=requests_per_minute,
            failed_logins_per_minute=failed_logins_per_minute,
            audit_log=workdir / "platform-audit.jsonl",
            forwarded_allow_ips=forwarded_allow_ips,
            work=work,
            log_path=workdir / "platform.log",
            metrics_public=metrics_public,
        ).start(aws_ready=moto.reset if given else None)
        customer_aws = asyncio.run(_assume_customer(platform_aws))
        return cls(
            moto=moto,
            platform=platform,
            key=key,
            secret=secret,
            platform_aws=platform_aws,
            customer_aws=customer_aws,
            owns_moto=owns_moto,
            workdir=workdir,
            second_account=second_account,
        )

    def stop(self) -> None:
        self.platform.stop()
        if self.owns_moto:
            # moto keeps its state in the process, not the server: a sandbox that started its
            # own server takes its AWS resources with it, or the next sandbox would see them.
            if isinstance(self.moto, MotoServer):
                with contextlib.suppress(OSError):
                    self.moto.reset()
            self.moto.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def client(self) -> PlatformClient:
        return PlatformClient(self.platform_url, self.key, self.secret)

    def customer_gateway(self) -> EstateBuilder:
        """EC2 as the customer account (it can build, for tests and seeding)."""
        return EstateBuilder(self.customer_aws, default_region=self.region)

    @property
    def staging_aws(self) -> AwsAccess:
        """The staging account: its role, assumed with the customer's keys."""
        return self.customer_aws.model_copy(update={"role_arn": STAGING_ROLE_ARN})

    def staging_gateway(self) -> EstateBuilder:
        """EC2 as the customer's staging account (it can build)."""
        return EstateBuilder(self.staging_aws, default_region=self.region)

    def accounts(self) -> tuple[Account, ...]:
        """The customer's accounts as a config file's ``[[accounts]]`` would name them: the
        exports' keys (the standard chain) and, with ``second_account``, staging's role."""
        if not self.second_account:
            return (Account("default", self.customer_aws, configured=False),)
        return (
            Account(CUSTOMER_ACCOUNT_NAME, self.customer_aws),
            Account(STAGING_ACCOUNT_NAME, self.staging_aws),
        )

    def account_roles(self) -> dict[str, str | None]:
        """The customer's named accounts and the role each is reached by (``None``: the
        exports' keys), as :meth:`accounts` names them; nothing without ``second_account``."""
        if not self.second_account:
            return {}
        return {a.name: a.access.role_arn for a in self.accounts()}

    def accounts_config(self) -> str:
        """The ``[[accounts]]`` block for the exports (no credentials: the first account is
        the exports' standard chain, the second a role assumed with it)."""
        if not self.second_account:
            return ""
        return (
            f'[[accounts]]\nname = "{CUSTOMER_ACCOUNT_NAME}"\n\n'
            f'[[accounts]]\nname = "{STAGING_ACCOUNT_NAME}"\nrole_arn = "{STAGING_ROLE_ARN}"\n'
        )

    def platform_gateway(self) -> EstateBuilder:
        """EC2 as the platform account."""
        return EstateBuilder(self.platform_aws, default_region=self.region)

    def environment(self) -> dict[str, str]:
        """The variables that point the CLI, the aws CLI and curl at this sandbox."""
        creds = self.customer_aws
        env = {
            "PEERING_PLATFORM_URL": self.platform_url,
            "PEERING_PLATFORM_KEY": self.key,
            "PEERING_PLATFORM_SECRET": self.secret.get_secret_value(),
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": creds.access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": (
                creds.secret_access_key.get_secret_value() if creds.secret_access_key else ""
            ),
            "AWS_SESSION_TOKEN": (
                creds.session_token.get_secret_value() if creds.session_token else ""
            ),
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        return env

    def operator_environment(self) -> dict[str, str]:
        """The seeded tenant operator's platform credentials (the rest as :meth:`environment`)."""
        if self.operator_key is None:
            return {}
        return {
            "PEERING_PLATFORM_KEY": self.operator_key.key,
            "PEERING_PLATFORM_SECRET": self.operator_key.secret.get_secret_value(),
        }

    def operator_client(self) -> PlatformClient:
        """The platform as the seeded tenant's operator sees it."""
        assert self.operator_key is not None, "seed the sandbox first"
        return PlatformClient(self.platform_url, self.operator_key.key, self.operator_key.secret)

    async def seed(self, *, demo: bool = True, on_stage: StageCallback | None = None) -> SeedReport:
        """Create deployments in three regions and the customer estate; with ``demo``, peerings
        (and, with a second account, its VPCs and peerings).

        The platform accepts the demo's peerings at once, whatever its accept delay; the delay
        applies from the last one on (the one a fresh dashboard sees move to running)."""
        service = self.platform.service
        assert service is not None, "the platform is not started"
        delay = service.accept_delay

        def restore_delay() -> None:
            service.accept_delay = delay

        service.accept_delay = 0.0
        try:
            async with self.client() as client, self.customer_gateway() as customer:
                report = await seed_estate(
                    client,
                    customer,
                    self.platform_aws,
                    demo=demo,
                    on_stage=on_stage or (lambda _stage: None),
                    before_last=restore_delay,
                )
        finally:
            restore_delay()
        if self.second_account:
            async with self.client() as client, self.staging_gateway() as staging:
                await seed_staging(client, staging, report, demo=demo)
        self.deployments = list(report.deployments.values())
        self.operator_key = report.operator_key
        return report


async def _assume_customer(platform_aws: AwsAccess) -> AwsAccess:
    async with EstateBuilder(platform_aws) as sts:
        return await sts.assume_role(
            f"arn:aws:iam::{CUSTOMER_ACCOUNT_ID}:role/operator", "peering-tui-sandbox"
        )
