"""API key secrets: made here, shown once, kept only as a slow salted hash.

The hash is scrypt (``hashlib``, OpenSSL's): memory-hard, in the standard library, so the
``platform`` extra needs no compiled dependency (argon2-cffi would be one). A secret is 32
random bytes (256 bits), so no hash parameters make guessing it feasible; the hash is there
so that a copy of the store file yields no usable secret. Verifying costs ~50-100 ms of CPU,
so the server remembers, in memory only, a keyed digest of each secret it has verified
(:class:`VerifiedSecrets`) and runs scrypt again only for a secret it has not seen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt's "interactive login" parameters (RFC 7914, section 2): 16 MiB, about 0.1 s here.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 64 * 1024 * 1024
SECRET_BYTES = 32
KEY_PREFIX = "pk-"


def new_key_id() -> str:
    """A key's public half, the Basic-auth user name: ``pk-`` and 16 hex digits."""
    return KEY_PREFIX + secrets.token_hex(8)


def new_secret() -> str:
    """A secret of 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def _raw(secret: str) -> bytes:
    # Credentials arrive as bytes decoded with "surrogateescape": any bytes round-trip.
    return secret.encode("utf-8", "surrogateescape")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def hash_secret(secret: str) -> str:
    """``scrypt$N$r$p$salt$hash``: what the store keeps (the parameters travel with it, so
    they can be raised later without breaking existing keys)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret.encode(), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def secret_matches(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (compared in constant time). Slow: run it off
    the event loop."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = _scrypt(_raw(secret), base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(given, expected)


class VerifiedSecrets:
    """Secrets this process has verified, as HMACs under a key that lives only in memory:
    a repeat request costs one HMAC instead of one scrypt, and nothing here is a secret or a
    hash usable outside this process."""

    def __init__(self) -> None:
        self._pepper = secrets.token_bytes(32)
        self._seen: dict[str, tuple[str, bytes]] = {}  # key id -> (stored hash, digest)

    def _digest(self, secret: str) -> bytes:
        return hmac.digest(self._pepper, _raw(secret), "sha256")

    def known(self, key_id: str, stored: str, secret: str) -> bool:
        """True when ``secret`` is the one verified for ``key_id`` against this very hash."""
        seen = self._seen.get(key_id)
        if seen is None or seen[0] != stored:
            return False
        return hmac.compare_digest(seen[1], self._digest(secret))

    def remember(self, key_id: str, stored: str, secret: str) -> None:
        self._seen[key_id] = (stored, self._digest(secret))

    def forget(self, key_id: str) -> None:
        self._seen.pop(key_id, None)
