"""Where the operator's tools find the platform and AWS.

Precedence: command-line flags, then ``PEERING_*`` environment variables, then the TOML file
``config.toml`` in the user config dir. The customer's AWS accounts are the file's
``[[accounts]]`` (each a profile or a role to assume); without them, the standard chain
(``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, …) or ``--aws-profile`` is the one account. A config
file that holds a secret must be private to its owner (mode 0600), or it is refused; the tool
never writes it, and credentials have no key in it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .accounts import DEFAULT_ACCOUNT, Account, Accounts
from .aws import AwsAccess, Ec2Gateway
from .errors import ConfigError
from .platform_client import PlatformClient
from .rules import REGION_RE

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


ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
SESSION_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}")
ACCOUNT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class AccountConfig(BaseModel):
    """One ``[[accounts]]`` entry: a name and how to reach the account. With neither
    ``profile`` nor ``role_arn`` it is the standard chain; with both, the role is assumed with
    the profile's credentials (a hub account)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    profile: str | None = None
    role_arn: str | None = None
    external_id: SecretStr | None = None
    session_name: str | None = None
    regions: tuple[str, ...] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ACCOUNT_NAME_RE.fullmatch(value):
            raise ValueError("letters, digits, '.', '_' or '-', at most 40, like prod-eu")
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN_RE.fullmatch(value):
            raise ValueError("a role ARN like arn:aws:iam::222222222222:role/peering-ops")
        return value

    @field_validator("session_name")
    @classmethod
    def _session(cls, value: str | None) -> str | None:
        if value is not None and not SESSION_NAME_RE.fullmatch(value):
            raise ValueError("2 to 64 of letters, digits and +=,.@_-")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for region in value or ():
            if not REGION_RE.fullmatch(region):
                raise ValueError(f"{region!r} is not an AWS region name (like us-east-1)")
        if value is not None and not value:
            raise ValueError("name at least one region, or leave regions out (every region)")
        return value

    @model_validator(mode="after")
    def _role_options(self) -> AccountConfig:
        if self.role_arn is None and (self.external_id or self.session_name):
            raise ValueError("external_id and session_name go with role_arn")
        return self

    def account(self) -> Account:
        access = AwsAccess(
            profile=self.profile,
            role_arn=self.role_arn,
            external_id=self.external_id,
            session_name=self.session_name or "peering-tui",
        )
        return Account(name=self.name, access=access, regions=self.regions)


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
    accounts: list[AccountConfig] = Field(default_factory=list)

    @field_validator("accounts")
    @classmethod
    def _unique(cls, value: list[AccountConfig]) -> list[AccountConfig]:
        names = [a.name for a in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"account names must differ: {', '.join(twice)} twice")
        return value


# Keys that would put credentials in the file: refused with where they belong instead.
_CREDENTIAL_KEYS = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "secret_access_key"}
)


def read_config_file(path: Path) -> FileConfig:
    """Read ``path``; refuse it when it holds a secret but others may read it. A refusal
    names the key and its line."""
    if not path.exists():
        return FileConfig()
    try:
        text = path.read_text()
        raw: dict[str, Any] = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        config = FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_file_problems(path, text, exc)) from None
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


def _file_problems(path: Path, text: str, exc: ValidationError) -> str:
    """Each problem as ``PATH, line N: accounts[2].role_arn: what is wrong`` (never the value)."""
    found = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        line = _line_of(text, loc)
        place = f"{path}, line {line}" if line else str(path)
        message = error["msg"].removeprefix("Value error, ")
        if loc and loc[-1] in _CREDENTIAL_KEYS:
            message = "credentials do not belong in this file: name a profile (~/.aws) instead"
        found.append(f"{place}: {where}: {message}")
    return "; ".join(found)


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line a validation error's location points at: the key's line in its table (the
    ``[[accounts]]`` header for a missing key)."""
    lines = text.splitlines()
    header = re.compile(r"\s*\[")
    start, table = 0, loc[:1] if loc and loc[0] in ("accounts", "keys") else ()
    if table == ("accounts",) and len(loc) > 1 and isinstance(loc[1], int):
        headers = [i for i, x in enumerate(lines) if re.match(r"\s*\[\[\s*accounts\s*\]\]", x)]
        if loc[1] >= len(headers):
            return None
        start = headers[loc[1]]
        key = str(loc[2]) if len(loc) > 2 else None
    elif table == ("keys",):
        starts = [i for i, x in enumerate(lines) if re.match(r"\s*\[\s*keys\s*\]", x)]
        start = starts[0] if starts else 0
        key = str(loc[1]) if len(loc) > 1 else None
    else:
        key = str(loc[0]) if loc else None
    if key is None:
        return start + 1
    assignment = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(start, len(lines)):
        if i > start and header.match(lines[i]) and table:
            break
        if not table and header.match(lines[i]):
            break
        if assignment.match(lines[i]):
            return i + 1
    return start + 1 if table else None


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
    # The [[accounts]] of the config file; none: ``aws`` (the standard chain) is the account.
    accounts: tuple[Account, ...] = ()

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
        """A new EC2 gateway on the first customer account (the only one without
        ``[[accounts]]``)."""
        return Ec2Gateway(self.customer_accounts()[0].access)

    def customer_accounts(self) -> tuple[Account, ...]:
        """The ``[[accounts]]``, or the standard chain as the one account."""
        return self.accounts or (Account(DEFAULT_ACCOUNT, self.aws, configured=False),)

    def open_accounts(self) -> Accounts:
        """New gateways on every customer account."""
        return Accounts.open(self.customer_accounts())


@asynccontextmanager
async def connected(connection: Connection) -> AsyncIterator[tuple[PlatformClient, Accounts]]:
    """The platform client and every customer account's gateway, closed on exit."""
    async with connection.platform_client() as platform, connection.open_accounts() as accounts:
        yield platform, accounts


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
        # --aws-profile (or PEERING_AWS_PROFILE) asks for that one account: it wins, as
        # flags and the environment win over the file.
        accounts=()
        if aws_profile or env.aws_profile
        else tuple(a.account() for a in file.accounts),
    )
