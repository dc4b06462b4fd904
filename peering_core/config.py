"""Where the operator's tools find the platform and AWS.

Precedence: command-line flags, then ``PEERING_*`` environment variables, then the TOML file
``config.toml`` in the user config dir. AWS credentials always come from the standard chain
(``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, …) or ``--aws-profile``. A config file that holds a
secret must be private to its owner (mode 0600), or it is refused.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .aws import AwsAccess, Ec2Gateway
from .errors import ConfigError
from .platform_client import PlatformClient

# The dashboard's poll interval: faster polls would overlap the next one's budget on a large
# fleet, so anything under the floor is raised to it.
DEFAULT_REFRESH = 5.0
MIN_REFRESH = 2.0


def refresh_interval(seconds: float) -> float:
    """The poll interval to use for ``seconds`` asked (never under :data:`MIN_REFRESH`)."""
    return max(MIN_REFRESH, seconds)


def read_only_requested(flag: bool = False) -> bool:
    """Whether read-only mode is on: the ``--read-only`` flag or ``PEERING_READ_ONLY=1``."""
    return flag or os.environ.get("PEERING_READ_ONLY", "").strip().lower() in ("1", "true", "yes")


def config_path() -> Path:
    override = os.environ.get("PEERING_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("peering-tui")) / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("peering-tui"))


class FileConfig(BaseModel):
    """The TOML file's keys (all optional)."""

    model_config = ConfigDict(extra="forbid")

    platform_url: str | None = None
    platform_key: str | None = None
    platform_secret: SecretStr | None = None
    aws_profile: str | None = None
    insecure: bool = False
    allow_http: bool = False
    # Binding id → key(s), for the dashboard's keymap (the dashboard checks the ids).
    keys: dict[str, str] = Field(default_factory=dict)


def read_config_file(path: Path) -> FileConfig:
    """Read ``path``; refuse it when it holds a secret but others may read it."""
    if not path.exists():
        return FileConfig()
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        config = FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}") from None
    if config.platform_secret is not None:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{path} holds platform_secret but is readable by others (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
    return config


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The ``[keys]`` table of the config file: binding id → key(s)."""
    return dict(read_config_file(path or config_path()).keys)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    """Where and what, never the value: the value may be a secret."""
    found = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        found.append(f"{prefix}{where.upper() if prefix else where}: {error['msg']}")
    return "; ".join(found)


def _carries_credentials(url: str) -> bool:
    authority = url.split("//", 1)[-1].split("/", 1)[0]
    return "@" in authority


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, allow_http: bool) -> None:
    """Refuse a plain ``http://`` platform URL to another machine unless ``allow_http``: the
    key, the secret and every answer would cross the network readable by anyone on the way."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname or ""):
        raise ConfigError(
            f"the platform URL is plain http:// to {parts.hostname!r}, which is not this machine: "
            "the API key, its secret and every answer would cross the network unencrypted; "
            "use https://, or pass --allow-http (PEERING_ALLOW_HTTP=1) if you must"
        )


class Settings(BaseSettings):
    """The platform endpoint and credentials from ``PEERING_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="PEERING_", extra="ignore")

    platform_url: str | None = None
    platform_key: str | None = None
    platform_secret: SecretStr | None = None
    aws_profile: str | None = Field(default=None)
    insecure: bool = False
    allow_http: bool = False


class Connection(BaseModel):
    """Everything needed to reach both sides."""

    model_config = ConfigDict(frozen=True)

    platform_url: str
    platform_key: str
    platform_secret: SecretStr
    verify_tls: bool = True
    aws: AwsAccess = AwsAccess()

    @property
    def key_id(self) -> str:
        """The platform key, shortened for the audit log and the header (not a secret)."""
        return self.platform_key

    def platform_client(self) -> PlatformClient:
        """A new client of the configured platform (its secret goes nowhere else)."""
        return PlatformClient(
            self.platform_url, self.platform_key, self.platform_secret, verify=self.verify_tls
        )

    def ec2_gateway(self) -> Ec2Gateway:
        """A new EC2 gateway on the configured AWS account."""
        return Ec2Gateway(self.aws)


@asynccontextmanager
async def connected(connection: Connection) -> AsyncIterator[tuple[PlatformClient, Ec2Gateway]]:
    """Both sides' clients, closed on exit."""
    async with connection.platform_client() as platform, connection.ec2_gateway() as ec2:
        yield platform, ec2


def load_connection(
    *,
    platform_url: str | None = None,
    aws_profile: str | None = None,
    insecure: bool = False,
    allow_http: bool = False,
    path: Path | None = None,
) -> Connection | None:
    """The configured connection, or ``None`` when nothing is configured (sandbox time)."""
    file = read_config_file(path or config_path())
    try:
        env = Settings()
    except ValidationError as exc:
        raise ConfigError(f"environment: {_problems(exc, prefix='PEERING_')}") from None
    url = platform_url or env.platform_url or file.platform_url
    key = env.platform_key or file.platform_key
    secret = env.platform_secret or file.platform_secret
    if not url and not key and secret is None:
        return None
    missing = [
        name
        for name, value in (
            ("PEERING_PLATFORM_URL", url),
            ("PEERING_PLATFORM_KEY", key),
            ("PEERING_PLATFORM_SECRET", secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"incomplete platform configuration: set {', '.join(missing)} "
            f"(environment or {config_path()})"
        )
    assert url and key and secret is not None
    if _carries_credentials(url):
        # Said without the URL: what sits before the "@" is likely a secret.
        raise ConfigError(
            "the platform URL must not carry credentials (user:secret@host); set "
            "PEERING_PLATFORM_KEY and PEERING_PLATFORM_SECRET instead"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"PEERING_PLATFORM_URL {url!r} must start with http:// or https://")
    check_transport(url, allow_http=allow_http or env.allow_http or file.allow_http)
    profile = aws_profile or env.aws_profile or file.aws_profile
    return Connection(
        platform_url=url,
        platform_key=key,
        platform_secret=secret,
        verify_tls=not (insecure or env.insecure or file.insecure),
        aws=AwsAccess(profile=profile),
    )
