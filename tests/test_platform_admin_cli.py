"""``peering-tui platform tenants|keys``: administering the platform offline, on its store.

For bootstrapping (a tenant and its first key before anyone can call the API) and for
break-glass (revoking a leaked key while the platform runs): the real command line, in
process, on the store file a real platform serves from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from peering_core.cli import main
from peering_core.sandbox.servers import Sandbox


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def admin(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> Any:
    code, out, err = run(capsys, "platform", *args, "--db", str(db), "--json")
    assert code == 0, (out, err)
    return json.loads(out)


def test_a_tenant_and_its_key_made_offline_work_against_the_platform_and_a_revoke_stops_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    start_sandbox: Callable[..., Sandbox],
) -> None:
    db = tmp_path / "platform.sqlite3"
    tenant = admin(capsys, db, "tenants", "create", "acme")
    assert tenant["tenantName"] == "acme" and tenant["tenantId"].startswith("t")
    key = admin(capsys, db, "keys", "create", "--tenant", "acme", "--role", "operator")
    assert key["tenantId"] == tenant["tenantId"] and key["role"] == "operator"
    assert len(key["secret"]) >= 43  # 256 random bits, URL-safe base64

    box = start_sandbox(db_path=db)
    with httpx.Client(base_url=box.platform_url, auth=(key["key"], key["secret"])) as client:
        who = client.get("/api/v1/whoami").json()
        assert who == {"key": key["key"], "role": "operator", "tenantId": tenant["tenantId"]}

        listed = admin(capsys, db, "keys", "list")
        assert [k["keyId"] for k in listed] == [key["keyId"]]
        assert all("secret" not in k for k in listed)
        revoked = admin(capsys, db, "keys", "revoke", key["key"])
        assert revoked["revokedAt"]
        # The running platform reads a key again at most a second after it last did.
        deadline = time.monotonic() + 10
        while client.get("/api/v1/whoami").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key is still accepted"
            time.sleep(0.05)

    raw = b"".join(p.read_bytes() for p in tmp_path.glob("platform.sqlite3*"))
    assert key["secret"].encode() not in raw
    audit = [
        json.loads(line) for line in (tmp_path / "platform-audit.jsonl").read_text().splitlines()
    ]
    offline = [r for r in audit if r["action"].startswith("platform ")]
    assert [r["action"] for r in offline] == [
        "platform tenants create",
        "platform keys create",
        "platform keys revoke",
    ]
    assert all(key["secret"] not in json.dumps(r) for r in audit)


def test_offline_refusals_say_what_is_wrong_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "platform.sqlite3"
    admin(capsys, db, "tenants", "create", "acme")
    for args, code in (
        (("tenants", "create", "acme"), "TENANT_EXISTS"),
        (("tenants", "create", "bad\x1b[2Jname"), "INVALID_ARGUMENT"),
        (("keys", "create", "--tenant", "nosuch", "--role", "viewer"), "TENANT_NOT_FOUND"),
        (("keys", "revoke", "pk-0000000000000000"), "KEY_NOT_FOUND"),
    ):
        exit_code, out, _ = run(capsys, "platform", *args, "--db", str(db), "--json")
        assert exit_code == 2, out
        assert json.loads(out)["error"]["code"] == code
    exit_code, _, err = run(
        capsys, "platform", "tenants", "create", "bad\x1b[2Jname", "--db", str(db)
    )
    assert exit_code == 2 and "\x1b" not in err and "tenantName" in err
    assert [t["tenantName"] for t in admin(capsys, db, "tenants", "list")] == ["default", "acme"]


def test_a_key_made_offline_is_printed_once_as_export_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "platform.sqlite3"
    admin(capsys, db, "tenants", "create", "acme")
    code, out, _ = run(
        capsys,
        "platform",
        "keys",
        "create",
        "--tenant",
        "acme",
        "--role",
        "viewer",
        "--db",
        str(db),
    )
    assert code == 0
    exports = [line for line in out.splitlines() if line.startswith("export ")]
    assert [line.split("=", 1)[0] for line in exports] == [
        "export PEERING_PLATFORM_KEY",
        "export PEERING_PLATFORM_SECRET",
    ]
    code, out, _ = run(capsys, "platform", "keys", "list", "--db", str(db))
    assert exports[1].split("=", 1)[1] not in out and "viewer" in out
