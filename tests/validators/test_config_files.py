"""A facility's profile and instrument registry files: a wrong field is named, with its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import Settings
from metadata.registry import load_registry
from validators.profiles import load_profiles


def test_profile_with_an_unknown_target_names_the_field(settings: Settings) -> None:
    settings.profiles_root.mkdir(parents=True)
    path = settings.profiles_root / "confocal.yaml"
    path.write_text("name: confocal\ntarget: gold-standard\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_profiles(settings)
    assert "profile field 'target'" in str(err.value) and "rembi" in str(err.value)
    assert str(path) in str(err.value)


def test_registry_entry_without_an_id_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "instruments.yaml"
    path.write_text("instruments:\n  - match: {model: LSM 980}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_registry(path)
    assert "instrument registry entry 'instruments.0.id'" in str(err.value)
    assert str(path) in str(err.value)
