"""Every error the library raises, under one root, and the exit codes they map to.

Each error carries a stable ``code`` (the JSON ``code`` of the command line and of the
platform API), a ``message`` that names the offending value, and the ``exit_code`` the
command line ends with. Callers catch :class:`PeeringError`, not a list of classes.

The tree::

    PeeringError                     exit 1: something failed
    ├── InvalidInput                 exit 2: bad input, found before anything changed
    │   ├── RuleViolation            a platform rule (INVALID_ARGUMENT, CIDR_RESERVED, ...)
    │   ├── ConfigError              the configuration cannot be used (CONFIG)
    │   └── UnknownPeering           no such deployment or pcx, or they do not belong together
    ├── Refused                      exit 3: a guard said no; nothing changed
    ├── Failed                       exit 1: started and could not finish; re-running continues
    │   └── DriftError               a diff or fix could not be made (DIFF_FAILED)
    ├── AuditLogUnwritable           exit 1: the audit log cannot be written; nothing changed
    ├── AwsError                     exit 1: an EC2 or STS call failed (AWS's own code)
    └── PlatformApiError             exit 1: the platform answered with an error
        └── PlatformUnavailable      not reachable, or kept failing after retries

The platform server adds ``PlatformError`` (``peering_core.platform.service``), a refusal
with its HTTP status, under the same root.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """The command line's exit codes; the README's table says the same."""

    OK = 0
    FAILED = 1
    USAGE = 2  # bad usage or input; also ``diff``/``fix``: drift found or left
    REFUSED = 3
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # the reader of stdout left (`peering-tui ls --json | head`)


# ``diff`` and ``fix`` say "drift" with the usage code, so scripts test one number.
EXIT_DRIFT = ExitCode.USAGE


class PeeringError(Exception):
    """The root of every error the library raises."""

    exit_code: ExitCode = ExitCode.FAILED
    default_code = "FAILED"

    def __init__(self, code: str, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.step = step

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than ``args`` holds: rebuild from the attributes.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    @property
    def summary(self) -> str:
        """What the command line says about it (the message; AWS errors add the call)."""
        return self.message


def _rebuild(cls: type[PeeringError], args: tuple[Any, ...], state: dict[str, Any]) -> PeeringError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInput(PeeringError):
    """Bad input, found before anything changed."""

    exit_code = ExitCode.USAGE
    default_code = "INVALID_ARGUMENT"


class RuleViolation(InvalidInput):
    """A peering rule that the input breaks; ``code`` matches the platform API's codes."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field


class ConfigError(InvalidInput):
    """The configuration cannot be used; the message says how to fix it."""

    default_code = "CONFIG"

    def __init__(self, message: str) -> None:
        super().__init__("CONFIG", message)


class UnknownPeering(InvalidInput):
    """The deployment or pcx asked for does not exist, or they do not belong together."""


class Refused(PeeringError):
    """A guard refused the operation; nothing changed."""

    exit_code = ExitCode.REFUSED
    default_code = "REFUSED"


class Failed(PeeringError):
    """The operation started and could not finish; re-running continues from here."""


class DriftError(Failed):
    """A diff or fix could not be made; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__("DIFF_FAILED", message)


class AuditLogUnwritable(PeeringError):
    """The audit log cannot be written (or made private), found before any change."""

    default_code = "AUDIT_LOG_UNWRITABLE"

    def __init__(self, message: str) -> None:
        super().__init__("AUDIT_LOG_UNWRITABLE", message)


# AWS's answers that refuse a call before acting on it: slow down and ask again.
THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "EC2ThrottledException",
    }
)
# Transport failures before the request left: AWS cannot have acted on it.
NOT_SENT_CODES = frozenset({"EndpointConnectionError", "ConnectTimeoutError"})


class AwsError(PeeringError):
    """An EC2 or STS call failed. ``code`` is AWS's error code (or a transport error name);
    ``status`` the HTTP status of AWS's answer (``None`` when none arrived)."""

    def __init__(self, operation: str, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        self.operation = operation
        self.status = status

    def __str__(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"

    @property
    def summary(self) -> str:
        return str(self)

    @property
    def not_found(self) -> bool:
        return self.code.endswith("NotFound")

    @property
    def throttled(self) -> bool:
        """AWS refused the call to slow the caller down; it did not act."""
        return self.code in THROTTLING_CODES

    @property
    def outcome_unknown(self) -> bool:
        """The call may have taken effect although it failed: the answer was lost (a dropped
        connection, a timeout) or was a server error. A refusal (4xx, throttling) was not."""
        if self.throttled:
            return False
        if self.status is None:
            return self.code not in NOT_SENT_CODES
        return self.status >= 500


class PlatformApiError(PeeringError):
    """The platform refused a request. ``code`` is the API's error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.details = details or []

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PlatformUnavailable(PlatformApiError):
    """The platform could not be reached or kept failing after retries."""
