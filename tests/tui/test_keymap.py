"""Keys can be remapped: the ``[keys]`` table of the config file, by binding id, shown in force
in the footer and on the help screen."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from peering_core.cli import main
from tui import bindings
from tui.app import PeeringApp
from tui.screens.help import HelpScreen, help_table

from .fixed import fixed_app
from .helpers import notifications, wait_for


def rendered(table: object) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_every_binding_has_an_id_and_the_ids_are_unique():
    ids = [b.id for b in bindings.all_bindings()]
    assert all(ids)
    assert len(ids) == len(set(ids))


def test_a_keymap_naming_no_binding_is_refused_with_the_name():
    with pytest.raises(ValueError, match=r"'dashboard\.nwe' is not a binding id"):
        bindings.check_keymap({"dashboard.nwe": "N"})
    with pytest.raises(ValueError, match=r"dashboard\.new"):
        bindings.check_keymap({"dashboard.new": ""})
    assert bindings.check_keymap({"dashboard.new": " N "}) == {"dashboard.new": "N"}


async def test_a_remapped_key_works_and_the_footer_and_help_show_it():
    app = fixed_app(keymap={"dashboard.new": "N", "dashboard.sort": "o"})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # What the footer lists: the screen's bindings with the keymap applied.
        keys = {b.binding.id: key for key, b in app.screen.active_bindings.items()}
        assert keys["dashboard.new"] == "N" and keys["dashboard.sort"] == "o"

        await pilot.press("n")  # the old key does nothing any more
        assert not any("not connected" in n for n in notifications(app))
        await pilot.press("N")  # the new one opens the form (refused here: not connected)
        await wait_for(
            pilot, lambda: any("not connected" in n for n in notifications(app)), what="new"
        )

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = rendered(help_table(read_only=False, keymap=app.keymap))
        new_row = next(line for line in text.splitlines() if "new  create a peering" in line)
        assert new_row.split()[0] == "N"


async def test_read_only_refuses_a_remapped_mutating_key_with_the_reason():
    app = fixed_app(keymap={"dashboard.delete": "ctrl+x"}, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+x")
        await wait_for(
            pilot, lambda: any("read-only" in n for n in notifications(app)), what="refusal"
        )


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[PeeringApp]:
    apps: list[PeeringApp] = []
    monkeypatch.setattr(PeeringApp, "run", lambda self, *a, **k: apps.append(self))
    monkeypatch.setenv("PEERING_CONFIG", str(tmp_path / "config.toml"))
    for name in ("URL", "KEY", "SECRET"):
        monkeypatch.delenv(f"PEERING_PLATFORM_{name}", raising=False)
    return apps


def test_the_config_files_keys_table_reaches_the_dashboard(started, tmp_path):
    (tmp_path / "config.toml").write_text('[keys]\n"dashboard.new" = "N"\n"app.help" = "f1"\n')
    assert main([]) == 0
    (app,) = started
    assert app.keymap == {"dashboard.new": "N", "app.help": "f1"}


def test_a_bad_keys_table_stops_the_dashboard_naming_the_entry(started, tmp_path, capsys):
    (tmp_path / "config.toml").write_text('[keys]\n"dashboard.create" = "N"\n')
    assert main([]) == 2
    assert "'dashboard.create' is not a binding id" in capsys.readouterr().err
    assert started == []
