"""The catalog on SQLite and on PostgreSQL: same tests, both engines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from catalog import Catalog, ClaimOutcome
from core.errors import CatalogError
from core.records import Acquisition, SourceFile, State


def _acq(fp: str = "a" * 64, source: str = "/in/x.tif") -> Acquisition:
    f = SourceFile(path=Path(source), relpath="x.tif", size=10, mtime_ns=1, sha256="b" * 64)
    return Acquisition(fingerprint=fp, source=Path(source), kind="tiff", files=(f,))


def test_first_claim_owns_then_duplicates_are_deliveries(catalog: Catalog) -> None:
    acq = _acq()
    assert catalog.claim(acq, "w1").outcome is ClaimOutcome.NEW
    assert catalog.claim(acq, "w2").outcome is ClaimOutcome.BUSY
    catalog.finish(
        acq.id,
        "w1",
        State.ARCHIVED,
        fair_level="ngff",
        location="/a/fw",
        record={"fields": {}},
        report={"findings": []},
    )
    again = catalog.claim(_acq(source="/elsewhere/copy.tif"), "w3")
    assert again.outcome is ClaimOutcome.DONE and again.state is State.ARCHIVED
    assert len(catalog.acquisitions()) == 1
    assert [d.path for d in catalog.deliveries(acq.id)] == ["/in/x.tif", "/elsewhere/copy.tif"]
    actions = [e.action for e in catalog.events(acq.id)]
    assert actions == ["claimed", "archived", "delivery"]


def test_stale_claim_is_retaken_once(catalog: Catalog) -> None:
    acq = _acq()
    catalog.claim(acq, "crashed")
    retaken = catalog.claim(acq, "w2", timeout=timedelta(seconds=0))
    assert retaken.outcome is ClaimOutcome.RETAKEN
    # the crashed worker coming back cannot finish: its claim is fenced off
    with pytest.raises(CatalogError, match="taken over"):
        catalog.finish(acq.id, "crashed", State.ARCHIVED)
    catalog.finish(acq.id, "w2", State.QUARANTINED, reason="CorruptInputError: x")
    row = catalog.find(acq.dataset_id)
    assert row is not None and row.state == "quarantined" and row.reason == "CorruptInputError: x"


def test_find_by_dataset_id_or_fingerprint_prefix(catalog: Catalog) -> None:
    acq = _acq(fp="c" * 64)
    catalog.claim(acq, "w")
    assert catalog.find(acq.dataset_id).id == acq.id
    assert catalog.find(acq.id).id == acq.id
    assert catalog.find("c" * 10).id == acq.id
    assert catalog.find("nothing") is None


def test_hash_cache(catalog: Catalog) -> None:
    f = SourceFile(path=Path("/in/x.tif"), relpath="x.tif", size=10, mtime_ns=5, sha256="d" * 64)
    catalog.remember_hashes([f])
    assert catalog.known_hash(Path("/in/x.tif"), 10, 5) == "d" * 64
    assert catalog.known_hash(Path("/in/x.tif"), 10, 6) is None
    catalog.remember_hashes([f.model_copy(update={"mtime_ns": 6, "sha256": "e" * 64})])
    assert catalog.known_hash(Path("/in/x.tif"), 10, 6) == "e" * 64


def test_finish_needs_a_terminal_state(catalog: Catalog) -> None:
    acq = _acq()
    catalog.claim(acq, "w")
    with pytest.raises(ValueError, match="not terminal"):
        catalog.finish(acq.id, "w", State.PROCESSING)


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match="FAIRWAY_DATABASE_URL") as info:
        Catalog.open("postgresql+psycopg://user:canary@127.0.0.1:1/none")
    assert "canary" not in str(info.value)


def test_a_claim_of_a_dead_worker_is_dead_even_when_its_pid_is_reused() -> None:
    import socket
    import subprocess
    import sys

    from catalog.store import _start_ticks, holder_is_dead, worker_id

    done = subprocess.run(
        [sys.executable, "-c", "from catalog.store import worker_id; print(worker_id())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert holder_is_dead(done.stdout.strip())  # exited
    live = subprocess.Popen(["sleep", "30"])
    try:
        host, start = socket.gethostname()[:40], _start_ticks(live.pid)
        assert start is not None
        assert not holder_is_dead(f"{host}:{live.pid}:{start}:abc")
        # the same pid, but a process that started at another time: the holder is gone
        assert holder_is_dead(f"{host}:{live.pid}:{int(start) - 1}:abc")
        assert not holder_is_dead(f"{host}:{live.pid}:abc")  # older claims: pid only
        assert not holder_is_dead(worker_id())  # this process
        assert not holder_is_dead(f"elsewhere:{live.pid + 1}:1:abc")  # other hosts: never
    finally:
        live.kill()
        live.wait()


def test_a_worker_id_fits_the_claim_column_on_any_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from catalog.models import AcquisitionRow
    from catalog.store import holder_is_dead, worker_id

    monkeypatch.setattr(socket, "gethostname", lambda: "n" * 63)  # the longest a host has
    limit = AcquisitionRow.__table__.c.claimed_by.type.length
    assert limit is not None and len(worker_id()) <= limit
    assert not holder_is_dead(worker_id())


def test_workers_opening_a_fresh_catalog_together_all_succeed(tmp_path: Path) -> None:
    """Each process creates the tables of a new catalog at the same moment: none may fail."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code = f"from catalog import Catalog; Catalog.open({url!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
