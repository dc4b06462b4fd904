"""What the platform key may do, asked once (``whoami``), for the command line and the
dashboard alike: a viewer key changes nothing, and is refused before any AWS call."""

from __future__ import annotations

from .errors import PeeringError, PlatformApiError, Refused
from .models import Role, WhoAmI
from .platform_client import PlatformClient


async def whoami(platform: PlatformClient) -> WhoAmI | None:
    """The key's role and tenant; ``None`` from a platform older than tenants (no route)."""
    try:
        return await platform.whoami()
    except PlatformApiError as exc:
        if exc.status == 404 and exc.code == "NOT_FOUND":
            return None
        raise


def viewer_reason(who: WhoAmI | None) -> str | None:
    """Why this key may not change anything, or ``None`` when it may."""
    if who is not None and who.role is Role.VIEWER:
        return f"the platform key {who.key} is a viewer key (it reads, it changes nothing)"
    return None


async def check_may_change(platform: PlatformClient, command: str) -> WhoAmI | None:
    """Refuse ``command`` (exit 3, ``FORBIDDEN``) when the key is a viewer's."""
    who = await whoami(platform)
    reason = viewer_reason(who)
    if reason is not None:
        raise Refused("FORBIDDEN", f"{command}: {reason}; nothing changed")
    return who


async def tenant_names(platform: PlatformClient, who: WhoAmI | None) -> dict[str, str] | None:
    """For the admin key, every tenant's name by id (what a TENANT column shows); ``None``
    for another key, or when the platform cannot say (the caller's own reads report why)."""
    if who is None or who.role is not Role.ADMIN:
        return None
    try:
        return {t.id: t.name for t in await platform.tenants()}
    except PeeringError:
        return None


async def admin_tenant_names(platform: PlatformClient) -> dict[str, str] | None:
    """:func:`tenant_names` after asking ``whoami``; ``None`` when either cannot be had."""
    try:
        who = await whoami(platform)
    except PeeringError:
        return None
    return await tenant_names(platform, who)
