"""A platform store written before tenants opens as the default tenant's, and the secrets of
the keys made since are kept only as scrypt hashes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from peering_core.models import PlatformStatus
from peering_core.platform.keys import hash_secret, new_secret, secret_matches
from peering_core.platform.store import MIGRATIONS, SCHEMA, Store


async def test_a_store_from_before_tenants_is_the_default_tenants_and_migrates_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "platform.sqlite3"
    old = sqlite3.connect(path)
    with old:
        old.executescript(";\n".join(SCHEMA))
        old.execute(
            "INSERT INTO deployments VALUES ('d1', 'factory-telemetry', 'dedicated', 'us-east-1', "
            "'running', '5.8.6', 'demo', '10.200.0.0/16', 'vpc-0a', '[\"rtb-0a\"]', "
            "'2026-11-01T00:00:00+00:00')"
        )
        old.execute(
            "INSERT INTO peerings VALUES ('pcx-0123456789abcdef0', 'd1', '210987654321', "
            "'vpc-0b', '172.20.0.0/16', 'us-east-1', 'running', NULL, "
            "'2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00')"
        )
    old.close()

    for _ in range(2):  # a second open finds nothing to do
        store = Store(path)
        await store.open()
        (row,) = await store.deployments()
        assert row.deployment.tenant_id == "default"
        (peering,) = await store.peerings(statuses=[PlatformStatus.RUNNING])
        assert (peering.tenant_id, peering.cidr, peering.cidrs) == (
            "default",
            "172.20.0.0/16",
            ("172.20.0.0/16",),
        )
        assert [t.name for t in await store.tenants()] == ["default"]
        assert await store.deployments("t-someone-else") == []
        await store.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == len(MIGRATIONS) == 2


def test_a_secret_is_stored_as_a_salted_scrypt_hash_that_only_it_matches() -> None:
    secret = new_secret()
    stored, again = hash_secret(secret), hash_secret(secret)
    assert stored != again  # salted
    assert secret not in stored and stored.startswith("scrypt$")
    assert secret_matches(secret, stored) and secret_matches(secret, again)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored)
    assert not secret_matches(secret, "plain$" + secret)
