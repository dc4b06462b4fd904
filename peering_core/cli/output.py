"""Where a command's results go: JSON on stdout for scripts, or words for people.

Words pass through :func:`~peering_core.printable.harmless` on their way out: a name or a
message from the platform or AWS can hold a terminal escape sequence (JSON escapes them
itself).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..durations import iso
from ..errors import InvalidInput, PeeringError
from ..printable import harmless
from ..printable import text_table as text_table  # the commands' tables, from one home
from ..workflow import Progress


@dataclass
class Output:
    """One command's output: ``--json`` or text."""

    json: bool

    def result(self, payload: dict[str, Any], text: str) -> None:
        if self.json:
            print(json.dumps(payload, indent=2, default=_json_default))
        else:
            print(harmless(text, keep_newlines=True))

    def error(self, code: str, message: str, exit_code: int, step: str = "") -> int:
        """Say what went wrong (``{"error": …}`` on stdout with ``--json``); returns the code."""
        if self.json:
            body: dict[str, Any] = {"code": code, "message": message, "exitCode": exit_code}
            if step:
                body["step"] = step
            print(json.dumps({"error": body}, indent=2))
        else:
            where = f" during {step}" if step else ""
            print(
                harmless(f"peering-tui: {message} [{code}{where}]", keep_newlines=True),
                file=sys.stderr,
            )
        return exit_code

    def failure(self, exc: PeeringError) -> int:
        """:meth:`error` for one of the library's errors, with its own code and exit code."""
        return self.error(exc.code, exc.summary, int(exc.exit_code), exc.step)

    def progress(self, event: Progress) -> None:
        if self.json:
            return
        mark = {"started": "…", "done": "✓", "skipped": "="}.get(event.state, "·")
        print(f"  {mark} {event.step.value:<9} {harmless(event.message)}", file=sys.stderr)


def _json_default(value: Any) -> Any:
    # Every timestamp the same way, as the platform API writes them.
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


async def ask(question: str, *, would: str, hint: str) -> bool:
    """Ask the operator ``question`` on the terminal; refuse when nobody can answer.

    ``would`` says what would happen and ``hint`` the flag that goes ahead without asking.
    """
    if not sys.stdin.isatty():
        raise InvalidInput("CONFIRMATION_REQUIRED", f"would {would}; {hint}")
    answer = await asyncio.to_thread(input, harmless(question, keep_newlines=True))
    return answer.strip().lower() in ("y", "yes")
