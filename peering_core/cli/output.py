"""Where a command's results go: JSON on stdout for scripts, or words for people."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput, PeeringError
from ..workflow import Progress


@dataclass
class Output:
    """One command's output: ``--json`` or text."""

    json: bool

    def result(self, payload: dict[str, Any], text: str) -> None:
        if self.json:
            print(json.dumps(payload, indent=2, default=str))
        else:
            print(text)

    def error(self, code: str, message: str, exit_code: int, step: str = "") -> int:
        """Say what went wrong (``{"error": …}`` on stdout with ``--json``); returns the code."""
        if self.json:
            body: dict[str, Any] = {"code": code, "message": message, "exitCode": exit_code}
            if step:
                body["step"] = step
            print(json.dumps({"error": body}, indent=2))
        else:
            where = f" during {step}" if step else ""
            print(f"peering-tui: {message} [{code}{where}]", file=sys.stderr)
        return exit_code

    def failure(self, exc: PeeringError) -> int:
        """:meth:`error` for one of the library's errors, with its own code and exit code."""
        return self.error(exc.code, exc.summary, int(exc.exit_code), exc.step)

    def progress(self, event: Progress) -> None:
        if self.json:
            return
        mark = {"started": "…", "done": "✓", "skipped": "="}.get(event.state, "·")
        print(f"  {mark} {event.step.value:<9} {event.message}", file=sys.stderr)


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def ask(question: str, *, would: str, hint: str) -> bool:
    """Ask the operator ``question`` on the terminal; refuse when nobody can answer.

    ``would`` says what would happen and ``hint`` the flag that goes ahead without asking.
    """
    if not sys.stdin.isatty():
        raise InvalidInput("CONFIRMATION_REQUIRED", f"would {would}; {hint}")
    answer = await asyncio.to_thread(input, question)
    return answer.strip().lower() in ("y", "yes")
