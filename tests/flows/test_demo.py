"""The main job: `fairway demo` on the embedded defaults."""

from __future__ import annotations

from pathlib import Path

from flows.demo import run_demo


def test_demo_archives_every_finished_acquisition(tmp_path: Path) -> None:
    result = run_demo(home=tmp_path / "home")
    assert result["ok"], result
    states = sorted(d["state"] for d in result["datasets"])
    assert states == ["archived"] * 5 + ["quarantined"]
    assert result["in_progress_file"] == {
        "path": result["in_progress_file"]["path"],
        "pass1": "pending",
        "pass2": "archived",
    }
    ct = next(d for d in result["datasets"] if Path(d["source"]).name.startswith("dicom-"))
    assert ct["state"] == "archived"
    # the patient's name was in folder, file names and headers: none of it is archived
    phi = [b"DOE^JANE", b"DOE_JANE", b"MRN0042", b"SMITH^ALAN", b"Sample University Hospital"]
    for path in Path(result["archive"]).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [v for v in phi if v in data], path
