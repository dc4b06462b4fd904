"""The platform server's refusals: :class:`PlatformError`, answered as ``{"code", "message"}``
with its HTTP status (the client raises its twin, ``PlatformApiError``, from the answer)."""

from __future__ import annotations

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
    return PlatformError(403, "FORBIDDEN", message)
