"""The platform server's refusals: :class:`PlatformError`, answered as ``{"code", "message"}``
with its HTTP status (the client raises its twin, ``PlatformApiError``, from the answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import PlatformApiError, RuleViolation


class PlatformError(PlatformApiError):
    """A refusal the server answers with: the API's error ``code``, HTTP ``status``, a message
    naming the value, and for 429 when to retry."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code, message, details)
        self.retry_after = retry_after


def from_rule(exc: RuleViolation) -> PlatformError:
    """A rule's refusal as the API answers it: 400 for malformed input, else 422."""
    return PlatformError(400 if exc.code == "INVALID_ARGUMENT" else 422, exc.code, exc.message)


def forbidden(message: str) -> PlatformError:
    return FORBIDDEN(message)


@dataclass(frozen=True)
class Refusal:
    """One way the API refuses: HTTP ``status``, the error ``code``, and ``when`` in words (the
    OpenAPI document and the README's table say it so)."""

    status: int
    code: str
    when: str

    def __call__(
        self,
        message: str,
        details: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> PlatformError:
        """This refusal, answered with ``message`` naming the value."""
        return PlatformError(self.status, self.code, message, details, retry_after)


# Every refusal the API answers with; each operation's document lists the ones it can give.
INVALID_ARGUMENT = Refusal(
    400, "INVALID_ARGUMENT", "a malformed value or body (the message names the field)"
)
UNAUTHORIZED = Refusal(401, "UNAUTHORIZED", "missing or wrong credentials, or a revoked key")
FORBIDDEN = Refusal(403, "FORBIDDEN", "the key's role does not allow it")
DEPLOYMENT_NOT_FOUND = Refusal(
    404, "DEPLOYMENT_NOT_FOUND", "no such deployment (or another tenant's)"
)
PEERING_NOT_FOUND = Refusal(404, "PEERING_NOT_FOUND", "the pcx is not recorded for that deployment")
RESOURCE_NOT_FOUND = Refusal(404, "RESOURCE_NOT_FOUND", "no such resource on the deployment")
TENANT_NOT_FOUND = Refusal(404, "TENANT_NOT_FOUND", "no such tenant (or another tenant's)")
KEY_NOT_FOUND = Refusal(404, "KEY_NOT_FOUND", "no such key (or another tenant's)")
DEPLOYMENT_NOT_RUNNING = Refusal(
    409, "DEPLOYMENT_NOT_RUNNING", "the deployment is stopped or being deleted"
)
PEERING_EXISTS = Refusal(409, "PEERING_EXISTS", "the pcx is already recorded with other values")
PEERING_NOT_RUNNING = Refusal(
    409, "PEERING_NOT_RUNNING", "the peering is neither running nor failed"
)
PEERING_NOT_FAILED = Refusal(409, "PEERING_NOT_FAILED", "the peering is not failed")
PEERING_IN_USE = Refusal(
    409, "PEERING_IN_USE", "a resource's host is inside a peer CIDR (details lists them)"
)
DEPLOYMENT_HAS_PEERINGS = Refusal(
    409, "DEPLOYMENT_HAS_PEERINGS", "the deployment still has peerings"
)
TENANT_EXISTS = Refusal(409, "TENANT_EXISTS", "a tenant of that name exists")
BODY_TOO_LARGE = Refusal(413, "BODY_TOO_LARGE", "a request body over 64 KiB")
PEERING_NOT_VISIBLE = Refusal(
    422, "PEERING_NOT_FOUND", "the platform's AWS account cannot see the pcx"
)
PEERING_WRONG_ACCEPTER = Refusal(
    422, "PEERING_WRONG_ACCEPTER", "the pcx is addressed to another VPC"
)
PEERING_REQUESTER_MISMATCH = Refusal(
    422, "PEERING_REQUESTER_MISMATCH", "the pcx's requester account or VPC differ from the body"
)
PEERING_NOT_PENDING = Refusal(
    422, "PEERING_NOT_PENDING", "the pcx is not pending-acceptance on AWS"
)
REGION_MISMATCH = Refusal(422, "REGION_MISMATCH", "the requester VPC is in another region")
CIDR_RESERVED = Refusal(422, "CIDR_RESERVED", "a peer CIDR falls in a range the platform reserves")
CIDR_OVERLAP = Refusal(
    422,
    "CIDR_OVERLAP",
    "a peer CIDR overlaps the deployment CIDR or another peering of the deployment",
)
TENANT_REQUIRED = Refusal(
    422, "TENANT_REQUIRED", "the admin key must name the tenant (tenantId) a key is for"
)
RATE_LIMITED = Refusal(429, "RATE_LIMITED", "the key's request budget is spent")
TOO_MANY_FAILED_LOGINS = Refusal(
    429,
    "TOO_MANY_FAILED_LOGINS",
    "too many requests without valid credentials from this address",
)
AWS_FAILED = Refusal(502, "AWS_UNAVAILABLE", "AWS refused or failed a call the request needed")
AWS_UNREACHABLE = Refusal(
    503, "AWS_UNAVAILABLE", "AWS cannot be reached now; nothing was recorded, try again"
)
REFUSALS = tuple(v for v in tuple(globals().values()) if isinstance(v, Refusal))
