"""Tenants and their API keys: made, listed and revoked, through the API or offline.

The HTTP API (``server.py``) and ``peering-tui platform tenants|keys`` (``command.py``) both
come here, so a tenant name or a role is checked the same way wherever it is given. ``scope``
is the asking key's tenant, or ``None`` for the admin (every tenant); another tenant's key or a
tenant outside the scope answers exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from .. import rules
from ..errors import RuleViolation
from ..models import ApiKey, NewApiKey, Role, Tenant
from ..printable import shown
from .errors import PlatformError, from_rule
from .keys import hash_secret, new_key_id, new_secret
from .store import Store, TenantExistsError, now

TENANT_NAME_LENGTH = 64
KEY_ROLES = (Role.OPERATOR, Role.VIEWER)  # the admin key is the one set at start-up


def tenant_not_found(tenant: object) -> PlatformError:
    return PlatformError(404, "TENANT_NOT_FOUND", f"tenant {shown(tenant)} does not exist")


def key_not_found(key_id: str) -> PlatformError:
    return PlatformError(404, "KEY_NOT_FOUND", f"key {shown(key_id)} does not exist")


class Tenancy:
    """Tenants and keys on one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create_tenant(self, body: dict[str, Any]) -> Tenant:
        try:
            name = rules.check_name(body.get("tenantName"), "tenantName")
        except RuleViolation as exc:
            raise from_rule(exc) from None
        tenant = Tenant(id="t" + secrets.token_hex(4)[:7], name=name, create_at=now())
        try:
            await self.store.add_tenant(tenant)
        except TenantExistsError:
            raise PlatformError(
                409, "TENANT_EXISTS", f"a tenant named {shown(name)} already exists"
            ) from None
        return tenant

    async def tenants(self) -> list[Tenant]:
        return await self.store.tenants()

    async def tenant(self, given: object, *, scope: str | None, by_name: bool = False) -> Tenant:
        """The tenant with id ``given`` (``by_name``: or that name) within ``scope``."""
        if not isinstance(given, str) or not given:
            raise PlatformError(
                400, "INVALID_ARGUMENT", "tenantId is required and must be a string"
            )
        tenant = await self.store.tenant(given)
        if tenant is None and by_name:
            tenant = await self.store.tenant(name=given)
        if tenant is None or (scope is not None and tenant.id != scope):
            raise tenant_not_found(given)
        return tenant

    async def create_key(
        self, body: dict[str, Any], *, scope: str | None, by_name: bool = False
    ) -> NewApiKey:
        """A new key of ``role`` for the tenant; its secret is in this answer and nowhere else."""
        role = body.get("role")
        if role not in [r.value for r in KEY_ROLES]:
            raise PlatformError(
                400,
                "INVALID_ARGUMENT",
                f"role {shown(role)} is not one of operator, viewer",
            )
        given = body.get("tenantId", scope)
        tenant = await self.tenant(given, scope=scope, by_name=by_name)
        secret = new_secret()
        # scrypt takes a tenth of a second of CPU: not on the event loop.
        stored = await asyncio.to_thread(hash_secret, secret)
        key_id = new_key_id()
        key = ApiKey(
            key_id=key_id, key=key_id, role=Role(role), tenant_id=tenant.id, create_at=now()
        )
        await self.store.add_key(key, stored)
        return NewApiKey(**key.model_dump(), secret=secret)

    async def keys(self, *, scope: str | None) -> list[ApiKey]:
        return await self.store.keys(scope)

    async def revoke_key(self, key_id: str, *, scope: str | None) -> ApiKey:
        """Revoke at once (a repeat answers the revoked key again)."""
        found = await self.store.key(key_id)
        if found is None or (scope is not None and found[0].tenant_id != scope):
            raise key_not_found(key_id)
        await self.store.revoke_key(found[0])
        revoked = await self.store.key(key_id)
        assert revoked is not None
        return revoked[0]
