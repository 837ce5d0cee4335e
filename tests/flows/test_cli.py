"""The CLI contract: commands, --json shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.factories import age, make_ome_tiff, make_plain_tiff

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    inbox = root / "inbox"
    make_ome_tiff(inbox / "a.ome.tif")
    make_plain_tiff(inbox / "b.tif")
    (inbox / "c.tif").write_bytes(b"II*\x00garbage")
    age(inbox)
    result = runner.invoke(
        app, ["--home", str(root / "home"), "ingest", str(inbox), "--quiet-seconds", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert sorted(o["outcome"] for o in summary["outcomes"]) == [
        "archived",
        "archived",
        "quarantined",
    ]
    return root / "home"


def _json(args: list[str]) -> object:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_json(home: Path) -> None:
    rows = _json(["--home", str(home), "status", "--json"])
    assert isinstance(rows, list) and len(rows) == 3
    for row in rows:
        assert {"id", "state", "source", "dataset"} <= set(row)
        assert row["state"] in {"archived", "quarantined", "rejected"}


def test_show_and_gaps_json(home: Path) -> None:
    rows = _json(["--home", str(home), "status", "--json", "--state", "archived"])
    dataset = next(r["dataset"] for r in rows if r["source"].endswith("b.tif"))
    view = _json(["--home", str(home), "show", dataset, "--json"])
    assert view["dataset"] == dataset
    assert {"record", "validation", "files", "events", "deliveries"} <= set(view)
    assert any(f["path"].endswith("METADATA.ome.xml") for f in view["files"])
    assert [e["step"] for e in view["events"]][:5] == [
        "ingest",
        "extract",
        "convert",
        "validate",
        "archive",
    ]
    gaps = _json(["--home", str(home), "gaps", dataset, "--json"])
    assert gaps and {"path", "module", "level", "severity", "message", "fix_hint"} <= set(gaps[0])
    assert any(g["path"] == "study.title" for g in gaps)


def test_verify_exit_codes(home: Path) -> None:
    result = runner.invoke(app, ["--home", str(home), "verify"])
    assert result.exit_code == 0, result.output
    rows = _json(["--home", str(home), "status", "--json", "--state", "archived"])
    victim = Path(rows[0]["location"]) / "data" / "metadata" / "record.json"
    original = victim.read_bytes()
    victim.write_bytes(original.replace(b"{", b"[", 1))
    try:
        bad = runner.invoke(app, ["--home", str(home), "verify", rows[0]["dataset"], "--json"])
        assert bad.exit_code == 1
        [res] = json.loads(bad.stdout)
        assert not res["ok"] and "record.json" in res["findings"][0]["path"]
    finally:
        victim.write_bytes(original)


def test_unknown_dataset_is_a_clear_error(home: Path) -> None:
    result = runner.invoke(app, ["--home", str(home), "show", "fw-nope"])
    assert result.exit_code == 2
    assert "no such dataset" in result.output


def test_an_error_is_one_line_and_quoted_as_is(home: Path) -> None:
    name = "fw-[bold]" + "x" * 150  # longer than the console, and rich markup
    result = runner.invoke(app, ["--home", str(home), "show", name])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert name in line


def test_watch_runs_the_flow_repeatedly_without_a_server(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "w.tif")
    age(inbox)
    result = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path / "home"),
            "watch",
            str(inbox),
            "--interval",
            "0.5",
            "--max-runs",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "archived=1" in result.output and "nothing new" in result.output


def test_an_unreachable_prefect_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "w.tif")
    age(inbox)
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), "ingest", str(inbox)])
    assert result.exit_code == 2, result.output
    assert f"Prefect API at http://127.0.0.1:{port}/api does not answer" in result.output
    assert "unset PREFECT_API_URL" in result.output
    assert not (tmp_path / "home" / "catalog.sqlite").exists()  # nothing was ingested


def test_gaps_all_is_the_curators_work_queue(home: Path) -> None:
    queue = _json(["--home", str(home), "gaps", "--all", "--json"])
    assert queue and all(q["fair_level"] != q["target"] for q in queue)
    missing = [(q["missing"]["error"], q["missing"]["warning"]) for q in queue]
    assert missing == sorted(missing, reverse=True)  # most missing first
    assert all(q["fields"] for q in queue)
    assert not any(q["source"].endswith("c.tif") for q in queue)  # quarantined: not curation


def test_a_refused_file_is_reported_without_tracebacks(
    prefect_harness: None, tmp_path: Path
) -> None:
    """A real `fairway ingest` process against a Prefect API: the refusal is in the summary."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "cut.ome.tif")
    data = (inbox / "cut.ome.tif").read_bytes()
    (inbox / "cut.ome.tif").write_bytes(data[: len(data) // 3])  # a transfer cut off
    age(inbox)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the session's server: no start-up
    exe = str(Path(sys.executable).with_name("fairway"))
    done = subprocess.run(
        [exe, "--home", str(tmp_path / "home"), "ingest", str(inbox), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    [outcome] = json.loads(done.stdout)["outcomes"]
    assert outcome["outcome"] == "quarantined" and "cut.ome.tif" in outcome["reason"]
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr


def _whole_on_a_line(text: str, output: str) -> bool:
    return any(text in line for line in output.splitlines())


def test_long_text_is_never_cut_or_folded_when_piped(home: Path, tmp_path: Path) -> None:
    """Issue 13 item 10: reasons, fix hints and field names reach a pipe whole, one line each."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / ("refused-" + "x" * 150 + ".tif")).write_bytes(b"II*\x00garbage")
    age(inbox)
    other = tmp_path / "home"
    ingest = runner.invoke(
        app, ["--home", str(other), "ingest", str(inbox), "--quiet-seconds", "1"]
    )
    rows: Any = _json(["--home", str(other), "status", "--json"])
    [row] = rows
    reason = row["reason"]
    assert len(reason) > 160
    # the summary gives the reason without its error type: from the file's path on
    assert _whole_on_a_line(reason[reason.index("/") :], ingest.output), ingest.output
    status = runner.invoke(app, ["--home", str(other), "status"])
    assert _whole_on_a_line(reason, status.output), status.output
    # gaps: every fix hint whole; show: every field name and value whole
    [dataset] = [
        r["dataset"]
        for r in cast(Any, _json(["--home", str(home), "status", "--json"]))
        if r["source"].endswith("a.ome.tif")
    ]
    findings: Any = _json(["--home", str(home), "gaps", dataset, "--json"])
    gaps = runner.invoke(app, ["--home", str(home), "gaps", dataset]).output
    hints = {f["fix_hint"] for f in findings}
    assert max(len(h) for h in hints) > 90
    assert [h for h in hints if not _whole_on_a_line(h, gaps)] == []
    view: Any = _json(["--home", str(home), "show", dataset, "--json"])
    fields = view["record"]["fields"]
    shown = runner.invoke(app, ["--home", str(home), "show", dataset]).output
    assert [k for k in fields if not _whole_on_a_line(k, shown)] == []
    assert max(len(k) for k in fields) > 40  # the names that were cut to "…" at 80 columns
    assert [v for v in fields.values() if not _whole_on_a_line(str(v["value"]), shown)] == []
