"""CSV for files people write (CSV sidecars, ``fix --from`` files).

The ``csv`` module has no nesting to bound, but it fails with its own ``csv.Error`` on a NUL
byte or a field longer than its limit (128 KiB); :func:`read_csv` reads the whole table once
(linear in the text, which every caller caps in size) and turns those into a typed refusal
naming the line. Field paths in the cells are bounded by :mod:`core.fieldpaths`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from core.errors import CorruptInputError

__all__ = ["MAX_COLUMNS", "read_csv"]

#: most columns a table may have (a bulk fix file has one per field path it sets)
MAX_COLUMNS = 4096


def read_csv(text: str, *, where: Path | str) -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of the table in ``text`` (a leading byte-order mark is dropped).

    Empty lines are skipped; cells beyond the header's columns are dropped and missing ones
    are empty strings.

    Raises
    ------
    CorruptInputError
        It is not a CSV table (a NUL byte, a cell above the ``csv`` limit of 128 KiB) or
        has more than :data:`MAX_COLUMNS` columns; the message names the line.
    """
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CorruptInputError(
            f"line {line} holds a NUL byte: this is not a text table",
            where=where,
            hint="save it again as CSV (UTF-8, comma-separated)",
        )
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[dict[str, str]] = []
    header: list[str] = []
    try:
        for cells in reader:
            if len(cells) > MAX_COLUMNS:
                raise CorruptInputError(
                    f"line {reader.line_num} has {len(cells)} columns, above {MAX_COLUMNS}",
                    where=where,
                    hint="split the table",
                )
            if not header:
                header = [c.strip() for c in cells]
                continue
            if not cells:
                continue  # an empty line, as csv.DictReader skips it
            padded = [*cells[: len(header)], *[""] * (len(header) - len(cells))]
            rows.append(dict(zip(header, padded, strict=True)))
    except csv.Error as exc:
        raise CorruptInputError(
            f"not a readable CSV table (line {reader.line_num}: {exc})",
            where=where,
            hint="save it again as CSV (UTF-8, comma-separated)",
        ) from None
    return header, rows
