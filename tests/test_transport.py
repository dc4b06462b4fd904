"""How the operator's tools reach the platform: HTTPS served by ``platform serve --tls-cert``,
a certificate failure named as one, and plain ``http://`` refused off this machine."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from peering_core.cli import main
from peering_core.config import load_connection
from peering_core.errors import ConfigError
from peering_core.sandbox.servers import MotoServer, free_port

from .platform_process import platform_process

KEY, SECRET = "tls-admin", "tls-admin-secret-0d9c1f"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peering-tui test platform")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "platform.pem", directory / "platform.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_platform(moto_server: MotoServer, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """``peering-tui platform serve --tls-cert --tls-key`` as its own process."""
    moto_server.reset()
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PEERING_"))}
    env |= {
        "PEERING_PLATFORM_KEY": KEY,
        "PEERING_PLATFORM_SECRET": SECRET,
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "sandbox-platform",
        "AWS_SECRET_ACCESS_KEY": "sandbox-platform",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    url = f"https://127.0.0.1:{port}"
    args = ["--port", str(port), "--db", str(tmp_path / "platform.sqlite3")]
    args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    trusted = ssl.create_default_context(cafile=str(cert))
    async with platform_process(
        args, env=env, log=tmp_path / "platform.log", url=url, verify=trusted
    ):
        yield url, cert


def ls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *flags: str
) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("PEERING_PLATFORM_URL", url)
    monkeypatch.setenv("PEERING_PLATFORM_KEY", KEY)
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", SECRET)
    monkeypatch.setenv("PEERING_CONFIG", "/nonexistent/peering-tui.toml")
    capsys.readouterr()
    code = main(["ls", "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


async def test_platform_serve_speaks_https_and_an_untrusted_certificate_is_named_as_such(
    tls_platform: tuple[str, Path],
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, cert = tls_platform
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sandbox-platform")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox-platform")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    code, out = await asyncio.to_thread(ls, monkeypatch, capsys, url)
    assert code == 1
    error = out["error"]
    assert isinstance(error, dict)
    assert error["code"] == "PLATFORM_UNAVAILABLE"
    assert "certificate" in str(error["message"]) and "did not answer" not in str(error["message"])

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    code, out = await asyncio.to_thread(ls, monkeypatch, capsys, url)
    assert code == 0, out
    assert out["deployments"] == []


def test_a_plain_http_platform_off_this_machine_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("PEERING_ALLOW_HTTP", raising=False)
    monkeypatch.setenv("PEERING_PLATFORM_KEY", KEY)
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", SECRET)
    config = tmp_path / "none.toml"
    for url in ("http://10.1.2.3:8080", "http://platform.example.com"):
        with pytest.raises(ConfigError) as refused:
            load_connection(platform_url=url, path=config)
        assert "http://" in refused.value.message and "--allow-http" in refused.value.message
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        assert load_connection(platform_url=url, path=config) is not None
    allowed = load_connection(platform_url="http://10.1.2.3:8080", allow_http=True, path=config)
    assert allowed is not None and allowed.platform_url == "http://10.1.2.3:8080"

    code, out = ls(monkeypatch, capsys, "http://10.1.2.3:8080")
    assert code == 2
    error = out["error"]
    assert isinstance(error, dict) and error["code"] == "CONFIG"
    assert SECRET not in json.dumps(out)
