"""The README's screenshots, taken from the real dashboard on a freshly seeded sandbox (both
customer accounts), at 120x40: ``python -m tests.docs_screenshots`` (``make docs``).

Writes docs/dashboard.svg and docs/diff-view.svg, and their PNGs when ``rsvg-convert``
(Debian's librsvg2-bin) is installed. The ids differ on every run; look at the PNGs before
committing them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from peering_core.sandbox.servers import Sandbox
from tui.app import PeeringApp
from tui.screens.diff import PeeringDiffScreen

from .tui.helpers import peerings_table, wait_for

DOCS = Path(__file__).resolve().parent.parent / "docs"
SIZE = (120, 40)


async def take(box: Sandbox, drifted: str, peerings: int) -> None:
    app = PeeringApp(sandbox=box, refresh=30.0)
    async with app.run_test(size=SIZE) as pilot:
        table = peerings_table(app)
        await wait_for(pilot, lambda: table.row_count == peerings, what="every peering")
        table.focus()
        table.move_to(drifted)
        await pilot.pause()
        app.save_screenshot("dashboard.svg", str(DOCS))
        app.open_diff(drifted)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PeeringDiffScreen)
        await wait_for(pilot, lambda: screen.reading is not None, what="the diff")
        walked = lambda: screen.paths is not None or screen.paths_error is not None  # noqa: E731
        await wait_for(pilot, walked, what="the paths")
        await pilot.pause()
        app.save_screenshot("diff-view.svg", str(DOCS))


def main() -> None:
    box = Sandbox.start(accept_delay=0.0, second_account=True)
    try:
        report = asyncio.run(box.seed())
        drifted = report.peerings["eu-prod->eu-connected-cars"]
        asyncio.run(take(box, drifted, len(report.peerings)))
    finally:
        box.stop()
    if shutil.which("rsvg-convert"):
        for name in ("dashboard", "diff-view"):
            svg, png = DOCS / f"{name}.svg", DOCS / f"{name}.png"
            subprocess.run(["rsvg-convert", str(svg), "-o", str(png)], check=True)
    print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
