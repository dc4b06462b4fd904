"""The dashboard's sandbox, in a process of its own (and moto in another).

``peering-tui`` with nothing configured starts it before it loads the dashboard: the sandbox
imports, starts and seeds on the other core, and its servers' work never holds the
dashboard's interpreter lock. The child says on its standard output, one JSON object a line,
``{"ready": ENVIRONMENT}`` as soon as moto and the platform serve (before seeding, so the
dashboard polls at once), then ``{"stage": TEXT}`` as seeding makes things (the dashboard
polls again on each), ``{"seeded": TEXT}`` at the end, or ``{"error": TEXT}``. It runs until
its standard input closes: the dashboard ended, however it ended.

This module imports nothing of the server stack; the child imports it when it runs, after
it has started moto (the longest wait).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Connection

# How long the dashboard's sandbox platform takes to accept a peering confirmed after
# seeding, so the dashboard has a state change to show (``peering-tui sandbox``'s default too).
DASHBOARD_ACCEPT_DELAY = 3.0


def exported_connection(
    env: Mapping[str, str], roles: Mapping[str, str | None] | None = None
) -> Connection:
    """The connection a sandbox's exports (``Sandbox.environment``) describe: its platform, and
    the customer's account on its moto server; with ``roles`` (``Sandbox.account_roles``), the
    customer's named accounts, each reached with the exports' keys or a role assumed with them."""
    from pydantic import SecretStr

    from ..accounts import Account
    from ..aws import AwsAccess
    from ..config import Connection

    aws = AwsAccess(
        access_key_id=env["AWS_ACCESS_KEY_ID"],
        secret_access_key=SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
        session_token=SecretStr(env["AWS_SESSION_TOKEN"]),
        endpoint_url=env["AWS_ENDPOINT_URL"],
    )
    return Connection(
        platform_url=env["PEERING_PLATFORM_URL"],
        platform_key=env["PEERING_PLATFORM_KEY"],
        platform_secret=SecretStr(env["PEERING_PLATFORM_SECRET"]),
        aws=aws,
        accounts=tuple(
            Account(name, aws.model_copy(update={"role_arn": role}))
            for name, role in (roles or {}).items()
        ),
    )


class SandboxFailed(RuntimeError):
    """The sandbox process could not start or seed; the message says why."""


class SandboxProcess:
    """The parent's handle on the sandbox process."""

    def __init__(self, process: subprocess.Popen[str], log: IO[bytes]) -> None:
        self.process = process
        self._log = log
        self.environment: dict[str, str] | None = None
        self.roles: dict[str, str | None] = {}

    @classmethod
    def spawn(cls, accept_delay: float = DASHBOARD_ACCEPT_DELAY) -> SandboxProcess:
        """Start it; it begins at once, and :meth:`ready` waits for it."""
        # Its log goes to a file, never to the terminal the dashboard draws on.
        log = tempfile.TemporaryFile(prefix="peering-sandbox-")  # noqa: SIM115 (closed in stop)
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(accept_delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            # Its own session: the terminal's ctrl+c is the dashboard's to handle, not its.
            start_new_session=True,
        )
        return cls(process, log)

    def _next(self) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            return None
        message: dict[str, Any] = json.loads(line)
        return message

    def _failed(self, why: str) -> SandboxFailed:
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip().splitlines()[-3:]
        return SandboxFailed(why + (": " + " / ".join(tail) if tail else ""))

    def ready(self) -> dict[str, str]:
        """Block until moto and the platform serve; the environment that points at them."""
        message = self._next()
        if message is None:
            raise self._failed(f"the sandbox process exited ({self.process.wait()})")
        if "ready" not in message:
            raise self._failed(str(message.get("error", message)))
        self.environment = dict(message["ready"])
        self.roles = dict(message.get("roles") or {})
        return self.environment

    def connection(self) -> Connection:
        """Block until it serves; then the connection to its platform and its customer."""
        environment = self.environment or self.ready()
        return exported_connection(environment, self.roles)

    def stages(self) -> Iterator[str]:
        """Block for each seeding stage as it finishes (the last says it is seeded)."""
        while (message := self._next()) is not None:
            if "error" in message:
                raise SandboxFailed(f"seeding stopped: {message['error']}")
            yield str(message.get("stage") or message.get("seeded"))
            if "seeded" in message:
                return

    def stop(self, timeout: float = 10.0) -> None:
        """End it, wherever it is (it stops its servers first); blocking."""
        process = self.process
        if process.poll() is None:
            assert process.stdin is not None
            try:
                process.stdin.close()
                process.terminate()
                process.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        self._log.close()


def _serve(accept_delay: float) -> None:
    """The child: moto in a process of its own, the platform here, seeded, until stdin ends
    (or SIGTERM, which stops the servers all the same)."""
    import asyncio
    import signal

    # Once the servers are being stopped, a SIGTERM lets that finish.
    stopping: list[bool] = []

    def on_sigterm(*_: object) -> None:
        if not stopping:
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    protocol, sys.stdout = sys.stdout, sys.stderr

    def say(**message: Any) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    from .accounts import (
        CUSTOMER_ACCOUNT_ID,
        PLATFORM_ACCOUNT_ID,
        SANDBOX_REGIONS,
        STAGING_ACCOUNT_ID,
    )
    from .moto_process import MotoProcess
    from .ports import free_port

    # moto first: its imports are the longest wait, and they run on the other core.
    accounts = (PLATFORM_ACCOUNT_ID, CUSTOMER_ACCOUNT_ID, STAGING_ACCOUNT_ID)
    warm = [f"{account}:{region}" for account in accounts for region in SANDBOX_REGIONS]
    moto = MotoProcess(free_port(), warm).start()
    sandbox = None
    try:  # whatever ends this (SIGTERM at any point too), the servers stop with it
        try:
            from .servers import Sandbox
        except ImportError as exc:
            say(
                error=f"{exc.name} is not installed: install peering-tui[sandbox] for the "
                "sandbox, or configure a platform (PEERING_PLATFORM_URL, _KEY, _SECRET)"
            )
            return
        try:
            sandbox = Sandbox.start(
                moto=moto, owns_moto=True, accept_delay=accept_delay, second_account=True
            )
        except Exception as exc:  # the dashboard shows it
            say(error=f"{type(exc).__name__}: {exc}")
            return
        say(ready=sandbox.environment(), roles=sandbox.account_roles())
        try:
            report = asyncio.run(sandbox.seed(on_stage=lambda stage: say(stage=stage)))
        except Exception as exc:  # a half-seeded sandbox still serves
            say(error=f"{type(exc).__name__}: {exc}")
        else:
            say(
                seeded=f"sandbox seeded: {len(report.deployments)} deployments, "
                f"{len(report.vpcs)} customer VPCs, {len(report.peerings)} peerings"
            )
        sys.stdin.read()
    finally:
        stopping.append(True)
        if sandbox is not None:
            sandbox.stop()  # moto too: the sandbox owns it
        else:
            moto.stop()


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
