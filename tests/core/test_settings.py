from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import load_settings


def test_defaults_live_in_the_home(tmp_path: Path) -> None:
    s = load_settings(tmp_path)
    assert s.catalog_url == f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert s.archive_root == tmp_path / "archive"
    assert s.staging_root == tmp_path / "staging"


def test_precedence_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fairway.toml").write_text(
        "[fairway]\nquiet_seconds = 5\nworkers = 3\nchunk_yx = 128\n"
    )
    monkeypatch.setenv("FAIRWAY_WORKERS", "4")
    s = load_settings(tmp_path, chunk_yx=256)
    assert s.quiet_seconds == 5  # file
    assert s.workers == 4  # environment beats file
    assert s.chunk_yx == 256  # override beats both


def test_secrets_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRWAY_DATABASE_URL", "postgresql://u:canary-secret@host/db")
    s = load_settings(tmp_path)
    assert "canary-secret" not in repr(s)
    assert "canary-secret" not in str(s.public_dict())
    assert "canary-secret" in s.catalog_url


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    (tmp_path / "fairway.toml").write_text("[fairway]\nquiet_seconds = -1\n")
    with pytest.raises(SettingsError, match="quiet_seconds"):
        load_settings(tmp_path)


def test_broken_toml_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "fairway.toml").write_text("[fairway\n")
    with pytest.raises(SettingsError, match=r"fairway\.toml"):
        load_settings(tmp_path)


@pytest.mark.parametrize("home", ["", "  "])
def test_an_empty_home_is_a_settings_error(
    home: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Prefect variable that was never set renders as "" in a deployment's parameters: that
    # must not silently make the worker's working directory the fairway home
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="fairway_home"):
        load_settings(home)
    assert list(tmp_path.iterdir()) == []
