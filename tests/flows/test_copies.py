"""Two required copies through the real flow: a folder and S3 (moto server on loopback).

A dataset is archived only when both copies are written and read back; `verify` audits every
copy; `repair` restores a damaged copy (or the primary) from an intact one; a curated fix
reaches every copy; a copy that cannot be written keeps the dataset out of `archived` until
`repair` completes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from catalog import Catalog
from core.settings import Settings, load_settings
from flows.cli import app
from flows.ingestion import run_ingest
from targets.copies import open_copies
from tests.conftest import S3Server
from tests.factories import age, make_ome_tiff

runner = CliRunner()


def _settings(home: Path, server: S3Server, bucket: str, **extra: object) -> Settings:
    env_like = {
        "archive_copies": [str(home.parent / "nas"), f"s3://{bucket}/fairway"],
        "s3_endpoint_url": server.endpoint_url,
        "s3_key": server.key,
        "s3_secret": server.secret,
        **extra,
    }
    return load_settings(home, quiet_seconds=0, chunk_yx=64, **env_like)


def _toml(settings: Settings, server: S3Server, bucket: str, endpoint: str | None = None) -> None:
    """The same settings for the CLI and the flow, in the home's fairway.toml."""
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "fairway.toml").write_text(
        "[fairway]\n"
        f"archive_copies = ['{settings.home.parent / 'nas'}', 's3://{bucket}/fairway']\n"
        f"s3_endpoint_url = '{endpoint or server.endpoint_url}'\n"
        f"s3_key = '{server.key}'\ns3_secret = '{server.secret}'\n",
        encoding="utf-8",
    )


def test_two_copies_verify_repair_and_fix(s3_server: S3Server, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "a.ome.tif")
    age(inbox)
    settings = _settings(tmp_path / "home", s3_server, "two-copies")
    _toml(settings, s3_server, "two-copies")
    summary = run_ingest([inbox], settings)
    [outcome] = summary.outcomes
    assert outcome.outcome == "archived", outcome.reason
    dataset = str(outcome.dataset)
    nas, s3 = open_copies(settings)
    assert nas.exists(dataset) and s3.exists(dataset)
    home = ["--home", str(settings.home)]
    ok = runner.invoke(app, [*home, "verify", "--all", "--json"])
    assert ok.exit_code == 0, ok.output
    [res] = json.loads(ok.stdout)
    assert [c["copy_name"] for c in res["copies"]] == ["primary", nas.name, s3.name]
    # damage the S3 copy (a flipped bit in a shard) and the primary (a deleted file)
    shard = next(k for k in sorted(s3.store.keys(dataset)) if "/c/" in k)
    data = bytearray(s3.store.read(f"{dataset}/{shard}") or b"")
    data[len(data) // 3] ^= 0x10
    s3.store.write(f"{dataset}/{shard}", bytes(data))
    (Path(outcome.location or "") / "data" / "metadata" / "validation.json").unlink()
    bad = runner.invoke(app, [*home, "verify", dataset, "--json"])
    assert bad.exit_code == 1
    [res] = json.loads(bad.stdout)
    damaged = {c["copy_name"]: c for c in res["copies"] if not c["ok"]}
    assert set(damaged) == {"primary", s3.name}
    assert shard in damaged[s3.name]["findings"][0]["path"]
    fixed = runner.invoke(app, [*home, "repair", dataset, "--json"])
    assert fixed.exit_code == 0, fixed.output
    result = json.loads(fixed.stdout)
    assert result["source"] == nas.name and set(result["repaired"]) == {"primary", s3.name}
    assert runner.invoke(app, [*home, "verify", dataset]).exit_code == 0
    # a curated fix reaches every copy
    fix = runner.invoke(
        app, [*home, "fix", dataset, "--set", "study.license=CC0-1.0", "--reason", "r", "--json"]
    )
    assert fix.exit_code == 0, fix.output
    assert json.loads(fix.stdout)[0]["copies"] == [nas.name, s3.name]
    assert runner.invoke(app, [*home, "verify", dataset]).exit_code == 0
    assert b"CC0-1.0" in (s3.store.read(f"{dataset}/data/metadata/record.json") or b"")
    catalog = Catalog.open(settings.catalog_url)
    try:
        row = catalog.find(dataset)
        assert row is not None
        steps = [(e.step, e.action) for e in catalog.events(row.id)]
    finally:
        catalog.close()
    assert ("verify", "damaged") in steps and ("repair", "ok") in steps


def test_an_unreachable_copy_keeps_the_dataset_out_of_archived(
    s3_server: S3Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "b.ome.tif", seed=9)
    age(inbox)
    home = tmp_path / "home"
    settings = _settings(home, s3_server, "later")
    _toml(settings, s3_server, "later", endpoint="http://127.0.0.1:9")  # nothing listens there
    [outcome] = run_ingest([inbox], load_settings(home, quiet_seconds=0)).outcomes
    assert outcome.outcome == "quarantined"
    assert "S3 bucket not reachable" in (outcome.reason or "")
    # the copy is reachable again: repair completes it and the dataset is archived
    _toml(_settings(home, s3_server, "later"), s3_server, "later")
    done = runner.invoke(app, ["--home", str(home), "repair", str(outcome.dataset), "--json"])
    assert done.exit_code == 0, done.output
    status = json.loads(runner.invoke(app, ["--home", str(home), "status", "--json"]).stdout)
    assert [r["state"] for r in status] == ["archived"]
