"""Who is asking, and how much they may ask: API keys, roles and the abuse limits.

- The key set at start-up (``PEERING_PLATFORM_KEY``/``_SECRET``) is the ``admin``; every other
  key is a tenant's ``operator`` or ``viewer``, stored with its secret's scrypt hash.
- Credentials are checked first: correct ones are never refused for another client's
  failures. Missing or wrong ones count against the budget of the peer address that sent them
  (:class:`FailedLogins`); past it, that address gets 429. A throttled address's credentials
  are still accepted when this process has verified them before (one HMAC), but not hashed
  again: guessing from it costs the platform no CPU.
- Accepted requests spend their key's budget (:class:`RequestBudget`).
- A key is read from the store at most once a second (its revocation reaches every process
  within that second), and at once after this process changed it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pydantic import SecretStr

from ..models import ApiKey, Role, WhoAmI
from .keys import VerifiedSecrets, secret_matches
from .store import Store

KEY_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Principal:
    """The key a request was made with."""

    key: str
    role: Role
    tenant_id: str | None  # None: the admin, every tenant

    @property
    def scope(self) -> str | None:
        """The tenant whose objects this key reaches, or ``None`` for all of them."""
        return self.tenant_id

    def whoami(self) -> WhoAmI:
        return WhoAmI(key=self.key, role=self.role, tenant_id=self.tenant_id)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RequestBudget:
    """A token bucket per API key: ``per_minute`` requests, refilled continuously."""

    per_minute: int
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """Spend one request; returns 0 when allowed, else seconds until the next is."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        bucket = self.buckets.setdefault(key, _Bucket(float(self.per_minute), now))
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


@dataclass
class FailedLogins:
    """Requests without valid credentials, per peer address: ``limit`` in ``window`` seconds."""

    limit: int = 10
    window: float = 60.0
    seen: dict[str, list[float]] = field(default_factory=dict)

    def blocked_for(self, address: str) -> float:
        """Seconds until ``address`` may fail again (0: it may now)."""
        now = time.monotonic()
        recent = [t for t in self.seen.get(address, []) if now - t < self.window]
        if recent:
            self.seen[address] = recent
        else:
            self.seen.pop(address, None)
        if len(recent) >= self.limit:
            return self.window - (now - recent[0])
        return 0.0

    def record(self, address: str) -> None:
        self.seen.setdefault(address, []).append(time.monotonic())


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(key, secret)`` from an ``Authorization: Basic`` header, or ``None``."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    key, colon, secret = decoded.partition(b":")
    if not colon:
        return None
    # Any bytes round-trip (surrogateescape): a stray byte is a wrong secret, not an error.
    return key.decode("utf-8", "surrogateescape"), secret.decode("utf-8", "surrogateescape")


class Authenticator:
    """Turns credentials into a :class:`Principal`, or says why not."""

    def __init__(self, store: Store, *, admin_key: str, admin_secret: SecretStr) -> None:
        self.store = store
        self._admin_key = admin_key.encode()
        self._admin_secret = admin_secret.get_secret_value().encode()
        self._verified = VerifiedSecrets()
        self._keys: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}
        # One hashing thread: however many wrong secrets arrive, scrypt uses one core.
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="key-hash")

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)

    def forget(self, key_id: str) -> None:
        """Read ``key_id`` from the store again on its next use (it was changed here)."""
        self._keys.pop(key_id, None)
        self._verified.forget(key_id)

    async def _stored(self, key_id: str) -> tuple[ApiKey, str] | None:
        cached = self._keys.get(key_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        found = await self.store.key(key_id)
        if len(self._keys) > 10_000:  # unknown ids are cached too: keep the map bounded
            self._keys.clear()
        self._keys[key_id] = (now, found)
        return found

    async def principal(self, key: str, secret: str, *, may_hash: bool) -> Principal | None:
        """The key's principal when ``secret`` is its secret; ``None`` when not (or when it
        would need hashing and ``may_hash`` is false)."""
        raw_key = key.encode("utf-8", "surrogateescape")
        raw_secret = secret.encode("utf-8", "surrogateescape")
        # Both comparisons always run, in constant time.
        key_ok = hmac.compare_digest(raw_key, self._admin_key)
        secret_ok = hmac.compare_digest(raw_secret, self._admin_secret)
        if key_ok and secret_ok:
            return Principal(key=key, role=Role.ADMIN, tenant_id=None)
        if key_ok:
            return None
        found = await self._stored(key)
        if found is None or found[0].revoked_at is not None:
            return None
        stored_key, stored_hash = found
        if not self._verified.known(key, stored_hash, secret):
            if not may_hash:
                return None
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(self._hashing, secret_matches, secret, stored_hash):
                return None
            self._verified.remember(key, stored_hash, secret)
        return Principal(key=key, role=stored_key.role, tenant_id=stored_key.tenant_id)
