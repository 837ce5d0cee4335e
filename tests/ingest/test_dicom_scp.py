"""C-STORE SCP: real peers (pynetdicom's SCU, dcmtk's storescu) send; the inbox gets whole files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from ingest.dicom_scp import start_storage_scp
from tests.factories import make_dicom_series


def _send_with_pynetdicom(files: list[Path], port: int, calling: str) -> list[int]:
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="FAIRWAY")
    if not assoc.is_established:
        return []
    statuses = [int(assoc.send_c_store(pydicom.dcmread(f)).Status) for f in files]
    assoc.release()
    return statuses


def _storescu() -> str | None:
    found = shutil.which("storescu")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "dcmtk"],
            capture_output=True,
            timeout=600,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("storescu")
    return found


def test_pynetdicom_peer_stores_whole_files(tmp_path: Path) -> None:
    files, _, _ = make_dicom_series(tmp_path / "modality", n=3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    server = start_storage_scp(inbox, host="127.0.0.1", port=0, allowed_aes=["CT_SCANNER"])
    try:
        assert _send_with_pynetdicom(files, server.port, "CT_SCANNER") == [0, 0, 0]
        # an AE title that is not allowed is turned away: nothing is written
        assert _send_with_pynetdicom(files, server.port, "INTRUDER") == []
    finally:
        server.shutdown()
    received = sorted(inbox.iterdir())
    assert len(received) == 3 and all(p.suffix == ".dcm" for p in received)
    assert server.received == 3
    sops = {pydicom.dcmread(p).SOPInstanceUID for p in received}
    assert sops == {pydicom.dcmread(f).SOPInstanceUID for f in files}
    assert not any("DOE" in p.name for p in received)  # names carry nothing identifying


def test_dcmtk_storescu_is_a_real_peer(tmp_path: Path) -> None:
    storescu = _storescu()
    if storescu is None:
        pytest.skip("dcmtk's storescu is not installed and could not be installed here")
    files, _, _ = make_dicom_series(tmp_path / "modality", n=4)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    server = start_storage_scp(inbox, host="127.0.0.1", port=0, allowed_aes=["STORESCU"])
    try:
        done = subprocess.run(
            [storescu, "-aet", "STORESCU", "-aec", "FAIRWAY", "127.0.0.1", str(server.port)]
            + [str(f) for f in files],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        refused = subprocess.run(
            [
                storescu,
                "-aet",
                "OTHER",
                "-aec",
                "FAIRWAY",
                "127.0.0.1",
                str(server.port),
                str(files[0]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode != 0  # association rejected for an unknown AE title
    finally:
        server.shutdown()
    received = sorted(inbox.glob("*.dcm"))
    assert len(received) == 4 and not list(inbox.glob("*.part"))
    for p in received:
        assert p.read_bytes()[128:132] == b"DICM"  # whole Part 10 files, as sent
        assert pydicom.dcmread(p).PixelData


def test_cli_dicom_listen_receives_until_its_time_is_up(tmp_path: Path) -> None:
    import socket
    import sys
    import time

    files, _, _ = make_dicom_series(tmp_path / "modality", n=2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = [sys.executable, "-c", "from flows.cli import main; main()", "dicom-listen"]
    options = ["--port", str(port), "--host", "127.0.0.1", "--allow", "CT_SCANNER"]
    listener = subprocess.Popen(
        [*cli, str(inbox), *options, "--seconds", "5"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert listener.stderr is not None
        started = time.monotonic()
        while "listening on" not in listener.stderr.readline():
            assert time.monotonic() - started < 60, "dicom-listen did not start"
        assert _send_with_pynetdicom(files, port, "CT_SCANNER") == [0, 0]
        _, rest = listener.communicate(timeout=30)
    finally:
        listener.kill()
    assert listener.returncode == 0, rest
    assert "2 instance(s) received" in rest
    assert len(list(inbox.glob("*.dcm"))) == 2
