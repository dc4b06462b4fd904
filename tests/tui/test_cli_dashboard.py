"""``peering-tui`` with no command starts the dashboard with the flags it was given."""

from __future__ import annotations

import subprocess
import sys

import pytest

from peering_core.cli import main
from tui.app import PeeringApp


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[PeeringApp]:
    """Apps the CLI would run, captured instead of taking over the terminal."""
    apps: list[PeeringApp] = []
    monkeypatch.setattr(PeeringApp, "run", lambda self, *a, **k: apps.append(self))
    monkeypatch.setenv("PEERING_CONFIG", "/nonexistent/peering-tui.toml")
    for name in ("URL", "KEY", "SECRET"):
        monkeypatch.delenv(f"PEERING_PLATFORM_{name}", raising=False)
    monkeypatch.delenv("PEERING_READ_ONLY", raising=False)
    return apps


def test_nothing_configured_means_the_dashboard_starts_its_own_sandbox(started):
    assert main([]) == 0
    (app,) = started
    assert app.connection is None and app.injected_sandbox is None
    assert not app.read_only and app.refresh_interval == 5.0
    # Started before the dashboard loaded, and stopped when it ended.
    assert app.sandbox_process is not None
    assert app.sandbox_process.process.poll() is not None


def test_the_dashboard_flags_reach_the_app(started, monkeypatch):
    monkeypatch.setenv("PEERING_PLATFORM_KEY", "key")
    monkeypatch.setenv("PEERING_PLATFORM_SECRET", "secret")
    assert main(["--read-only", "--refresh", "2", "--platform-url", "https://p.example"]) == 0
    (app,) = started
    assert app.read_only and app.started_read_only
    assert app.refresh_interval == 2.0, "the refresh has a floor of 2 s"
    assert app.connection is not None
    assert app.connection.platform_url == "https://p.example"


def test_a_refresh_under_the_floor_is_refused_not_silently_raised(started, capsys):
    # Issue 17 (8): `--refresh 1` used to become 2 without a word.
    with pytest.raises(SystemExit) as stopped:
        main(["--refresh", "1"])
    assert stopped.value.code == 2
    assert "--refresh: 1 is under the floor" in capsys.readouterr().err
    assert started == []


def test_peering_read_only_in_the_environment_works_like_the_flag(started, monkeypatch):
    monkeypatch.setenv("PEERING_READ_ONLY", "1")
    assert main([]) == 0
    assert started[0].read_only


def test_an_incomplete_configuration_says_what_is_missing(started, capsys):
    assert main(["--platform-url", "https://p.example"]) == 2
    assert "PEERING_PLATFORM_KEY" in capsys.readouterr().err
    assert started == []


def test_a_dashboard_on_a_configured_platform_does_not_load_the_platform_server():
    # The sandbox's platform (FastAPI, uvicorn) is imported when a sandbox starts, not before:
    # a fresh interpreter that loads the command line and the whole app has none of it.
    probe = (
        "import sys, peering_core.cli, tui.app; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'peering_core.sandbox') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
