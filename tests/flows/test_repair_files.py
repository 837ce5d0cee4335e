"""`fairway repair` file by file: every copy damaged somewhere, every file intact somewhere.

The primary archive and two folder copies are each damaged in a different file; no copy is
intact, yet each file has a good version in one of them, so the dataset is repaired. A file
damaged everywhere is named in the refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.settings import load_settings
from flows.cli import app
from flows.ingestion import run_ingest
from targets.copies import open_copies
from tests.factories import age, make_ome_tiff

runner = CliRunner()


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_each_copy_damaged_in_a_different_file_is_repaired(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    nas, usb = tmp_path / "nas", tmp_path / "usb"
    (home / "fairway.toml").write_text(f"[fairway]\narchive_copies = ['{nas}', '{usb}']\n")
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "a.ome.tif")
    age(inbox)
    settings = load_settings(home, quiet_seconds=0, chunk_yx=64)
    [outcome] = run_ingest([inbox], settings).outcomes
    assert outcome.outcome == "archived", outcome.reason
    dataset = str(outcome.dataset)
    primary = Path(outcome.location or "")
    shards = sorted(
        p.relative_to(primary).as_posix() for p in (primary / "data").rglob("c/**/*") if p.is_file()
    )
    assert len(shards) >= 2
    # the primary loses its record, each copy has a different shard flipped
    (primary / "data" / "metadata" / "record.json").unlink()
    _flip(nas / dataset / shards[0])
    _flip(usb / dataset / shards[-1])
    base = ["--home", str(home)]
    damaged = json.loads(runner.invoke(app, [*base, "verify", dataset, "--json"]).stdout)
    assert [c["ok"] for c in damaged[0]["copies"]] == [False, False, False]
    result = runner.invoke(app, [*base, "repair", dataset, "--json"])
    assert result.exit_code == 0, result.output
    repaired = json.loads(result.stdout)
    assert set(repaired["repaired"]) == {"primary", str(nas), str(usb)}
    assert repaired["ok"] and repaired["error"] is None
    assert runner.invoke(app, [*base, "verify", dataset]).exit_code == 0
    assert all(c.verify(dataset) == [] for c in open_copies(settings))
    # a file damaged in every copy cannot be repaired: the refusal names it, nothing breaks more
    for root in (primary, nas / dataset, usb / dataset):
        _flip(root / shards[0])
    result = runner.invoke(app, [*base, "repair", dataset, "--json"])
    assert result.exit_code == 1
    refused = json.loads(result.stdout)
    assert shards[0] in refused["error"] and "no intact version" in refused["error"]
