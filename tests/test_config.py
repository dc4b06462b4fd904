"""Configuration: environment over file, and a secret-holding file must be private."""

from __future__ import annotations

import pytest

from peering_core.config import load_connection
from peering_core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "PEERING_PLATFORM_URL",
        "PEERING_PLATFORM_KEY",
        "PEERING_PLATFORM_SECRET",
        "PEERING_INSECURE",
        "PEERING_AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)


def write(path, text, mode):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_nothing_configured_means_sandbox(tmp_path):
    assert load_connection(path=tmp_path / "missing.toml") is None


def test_a_private_file_is_used(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        'platform_url = "https://p.example"\nplatform_key = "k"\nplatform_secret = "s3cret"\n',
        0o600,
    )
    conn = load_connection(path=cfg)
    assert conn.platform_url == "https://p.example" and conn.verify_tls
    assert "s3cret" not in repr(conn)


def test_a_secret_in_a_world_readable_file_is_refused_with_the_fix(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        'platform_url = "https://p.example"\nplatform_key = "k"\nplatform_secret = "s3cret"\n',
        0o644,
    )
    with pytest.raises(ConfigError) as err:
        load_connection(path=cfg)
    assert f"chmod 600 {cfg}" in str(err.value)
    assert "s3cret" not in str(err.value)


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    cfg = write(tmp_path / "c.toml", 'platform_url = "https://file.example"\n', 0o644)
    monkeypatch.setenv("PEERING_PLATFORM_URL", "https://env.example")
    monkeypatch.setenv("PEERING_PLATFORM_KEY", "k")
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", "s")
    assert load_connection(path=cfg).platform_url == "https://env.example"


def test_half_a_configuration_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERING_PLATFORM_URL", "https://env.example")
    with pytest.raises(ConfigError, match="PEERING_PLATFORM_KEY, PEERING_PLATFORM_SECRET"):
        load_connection(path=tmp_path / "none.toml")


def test_unknown_keys_in_the_file_are_named(tmp_path):
    cfg = write(tmp_path / "c.toml", 'platfrom_url = "x"\n', 0o600)
    with pytest.raises(ConfigError, match="platfrom_url"):
        load_connection(path=cfg)


def test_insecure_must_be_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERING_PLATFORM_URL", "https://env.example")
    monkeypatch.setenv("PEERING_PLATFORM_KEY", "k")
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", "s")
    assert load_connection(path=tmp_path / "n.toml").verify_tls
    assert not load_connection(path=tmp_path / "n.toml", insecure=True).verify_tls
