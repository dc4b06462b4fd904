"""Text that is safe in a terminal: one rule for what a name may hold and for what is shown.

A character is unsafe when Python would not print it as itself (``str.isprintable``): control
characters (ESC, BEL, the C1 range), format characters (bidi overrides, zero-width joiners),
line and paragraph separators, unpaired surrogates, unassigned code points. The platform
refuses them in names; the operator's tools escape them in whatever they print, since a name
or an error message from a platform or an AWS account can carry a terminal escape sequence.
"""

from __future__ import annotations

from collections.abc import Sequence


def _escape(char: str) -> str:
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def harmless(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unsafe character written as its escape (``\\x1b``, ``\\u202e``);
    with ``keep_newlines``, line breaks stay (multi-line output of our own)."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or (keep_newlines and char == "\n") else _escape(char)
        for char in text
    )


def first_unsafe(text: str) -> int | None:
    """The index of the first unsafe character of ``text``, or ``None``."""
    if text.isprintable():
        return None
    return next(i for i, char in enumerate(text) if not char.isprintable())


def shown(value: object, limit: int = 512) -> str:
    """``value`` as an error message names it: quoted like ``repr`` (so unsafe characters are
    escaped) and cut at ``limit`` characters, since a refused value may be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart; the first row is the header. Every cell
    is made harmless (a line break in a name would forge a row)."""
    cells = [[harmless(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
