"""DICOM end to end: series archived, nothing identifying outside the PHI boundary."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
import zarr

from catalog.pseudonyms import PseudonymStore
from core.settings import load_settings
from flows.ingestion import run_ingest
from tests.factories import age, make_dicom_series, scrub_identifiers, tree_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out.append((p, p.read_bytes()))
    return out


def _prefect_database() -> Path | None:
    from prefect.settings import get_current_settings

    url = str(get_current_settings().server.database.connection_url.get_secret_value())
    return Path(url.split("///", 1)[1]) if url.startswith("sqlite") and "///" in url else None


def _prefect_rows_since(db: Path, started: str) -> bytes:
    """Every row the Prefect database gained since ``started`` (all tables, as text).

    The session's Prefect database holds every other test's runs too; its raw pages are
    binary, where a four-character canary such as an age (``501Y``) turns up by chance.
    """
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            query = f'SELECT * FROM "{table}"'
            if "created" in columns:
                query += " WHERE julianday(created) >= julianday(?)"
                rows = conn.execute(query, (started,)).fetchall()
            else:
                rows = conn.execute(query).fetchall()
            out.append(repr(rows))
        return "\n".join(out).encode()
    finally:
        conn.close()


def test_phi_canaries_reach_no_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime, timedelta

    started = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    inbox = tmp_path / "inbox"
    # folder and file names written by the scanner carry canaries too
    files, canaries, covered = make_dicom_series(inbox / "CANARY-FOLDER-SMITH^ANNA", n=3)
    age(inbox)
    before = tree_snapshot(inbox)
    home = tmp_path / "home"
    settings = load_settings(home, quiet_seconds=1)
    caplog.set_level(logging.DEBUG)
    # through the Prefect flow (not the plain library run_ingest uses without a server): its
    # database, with the run's parameters, task runs and artifacts, is one of the sinks
    from flows.ingestion import ingest_flow
    from flows.pipeline import IngestSummary
    from flows.service import flow_parameters

    state = ingest_flow(**flow_parameters([inbox], settings), return_state=True)
    summary = IngestSummary.model_validate(state.result())
    [outcome] = summary.outcomes
    assert outcome.outcome == "archived", outcome.reason
    assert tree_snapshot(inbox) == before  # sources untouched
    # the sinks: catalog, archive (zarr attributes, bag tag files, RO-Crate), staging, logs,
    # the ingest summary, and the Prefect database (flow/task runs, parameters, artifacts)
    sinks = _bytes_under(home / "archive") + _bytes_under(home / "staging")
    sinks += [(p, p.read_bytes()) for p in home.glob("catalog.sqlite*")]
    sinks.append((Path("<logs>"), caplog.text.encode()))
    sinks.append((Path("<summary>"), summary.model_dump_json().encode()))
    prefect_db = _prefect_database()
    assert prefect_db is not None and prefect_db.is_file()
    prefect_rows = _prefect_rows_since(prefect_db, started)
    assert str(outcome.dataset).encode() in prefect_rows  # this run's rows are the ones read
    sinks.append((prefect_db, prefect_rows))
    unique = sorted(set(canaries))
    sinks = [(p, scrub_identifiers(data)) for p, data in sinks]
    hits = [(str(p), c) for p, data in sinks for c in unique if c.encode() in data]
    assert hits == [], hits[:10]
    assert covered > 400
    # the pseudonym store (outside the archive) is the only place that links back
    location = Path(outcome.location or "")
    record = json.loads((location / "data" / "metadata" / "record.json").read_text())
    header = json.loads(record["unmapped"]["dicom.header"]["text"])
    archived_study = header["0020000D"]["Value"][0]  # StudyInstanceUID as archived
    original_study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    assert archived_study != original_study
    store = PseudonymStore.from_settings(settings)
    try:
        assert store.original(archived_study) == original_study
    finally:
        store.close()
    assert not any(p.name.startswith("pseudonyms") for p, _ in _bytes_under(home / "archive"))
    # and the pixels are there, as a Z stack with the geometry's spacing
    image = zarr.open_group(str(location / "data" / f"{outcome.dataset}.ome.zarr"), mode="r")
    assert image["0"].shape == (1, 1, 3, 16, 20)
    assert np.array_equal(
        image["0"][0, 0, 1], (np.arange(320, dtype=np.uint16) * 2).reshape(16, 20)
    )
    scale = image.attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert scale["scale"][2:] == [2.5, 0.5, 0.5]
    print(f"PHI canaries: {len(unique)} values in {covered} Annex E attributes, 0 hits")


def test_every_corpus_dicom_file_is_archived_or_refused_with_a_reason(
    corpus: Path, tmp_path: Path
) -> None:
    settings = load_settings(tmp_path / "home", quiet_seconds=0, chunk_yx=128)
    summary = run_ingest([corpus / "dicom", corpus / "malformed" / "dicom"], settings)
    outcomes = [o for o in summary.outcomes if Path(o.source).name.startswith("dicom-")]
    assert summary.internal_errors == 0, [
        o.reason for o in summary.outcomes if o.outcome == "failed"
    ]
    assert len(outcomes) > 40
    for o in outcomes:
        assert o.outcome in {"archived", "quarantined", "rejected"}, o
        if o.outcome != "archived":
            assert o.reason and Path(o.source).name in o.reason  # names the series, no file name
    archived = sum(o.outcome == "archived" for o in outcomes)
    assert archived >= 30
