"""Facility profiles: which FAIR level a project or instrument must reach, as files.

A profile is a YAML file: ``name``, ``description``, ``target`` (a FAIR level), ``folders``
(source folders or glob patterns it applies to), ``instruments`` (instrument registry ids,
serial numbers or models it applies to) and ``defaults`` (facility values for field paths,
used only where no other source has one). fairway ships ``ngff``, ``rembi`` and
``rembi-nbo-tier1..3``; a facility adds its own in ``<home>/profiles/`` (same name: the
facility's file wins).

Selection for an acquisition: the profile with the most specific matching folder, else one
naming its instrument, else the ``profile`` setting.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from core.errors import SettingsError, first_problem
from core.records import FAIR_LEVELS, MetadataRecord
from core.settings import Settings
from core.yamlsafe import load_yaml

__all__ = ["Profile", "load_profiles", "select_profile"]

MAX_PROFILE_BYTES = 1024**2


class Profile(BaseModel):
    """One facility profile."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    target: str
    folders: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    defaults: dict[str, JsonValue] = Field(default_factory=dict)
    file: str = Field(default="", description="Where the profile was read from.")

    @field_validator("target")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value not in FAIR_LEVELS:
            raise ValueError(f"target must be one of {', '.join(FAIR_LEVELS)}")
        return value

    def folder_match(self, source: Path) -> int:
        """Length of the longest folder pattern matching ``source`` (0: none)."""
        text = PurePosixPath(source.resolve()).as_posix()
        best = 0
        for pattern in self.folders:
            pat = pattern.rstrip("/")
            plain = not any(ch in pat for ch in "*?[")
            hit = (
                text == pat or text.startswith(pat + "/")
                if plain
                else fnmatch.fnmatchcase(text, pat) or fnmatch.fnmatchcase(text, pat + "/*")
            )
            if hit:
                best = max(best, len(pat))
        return best

    def instrument_match(self, keys: set[str]) -> bool:
        """Whether the profile names one of the instrument's keys (id, serial, model)."""
        return any(i.casefold() in keys for i in self.instruments)


def _read(path: Path, text: str) -> Profile:
    if len(text.encode()) > MAX_PROFILE_BYTES:
        raise SettingsError(f"profile is above {MAX_PROFILE_BYTES} bytes", where=path)
    try:
        doc = load_yaml(text, where=path)
        if not isinstance(doc, dict):
            raise SettingsError("a profile is a YAML mapping", where=path)
        return Profile.model_validate({**doc, "file": str(path)})
    except yaml.YAMLError as exc:
        raise SettingsError(f"profile is not valid YAML ({exc})", where=path) from None
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise SettingsError(
            f"profile field '{field}': {message}",
            where=path,
            hint=f"targets: {', '.join(FAIR_LEVELS)}",
        ) from None


@cache
def _builtin() -> tuple[Profile, ...]:
    root = resources.files("schemas").joinpath("profiles")
    return tuple(
        _read(Path(f"<fairway>/schemas/profiles/{p.name}"), p.read_text(encoding="utf-8"))
        for p in sorted(root.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".yaml")
    )


def load_profiles(settings: Settings) -> dict[str, Profile]:
    """Every profile by name: fairway's, then the facility's (which win on a name clash).

    Raises
    ------
    SettingsError
        A profile file cannot be read or has a wrong field; the message names the file.
    """
    out = {p.name: p for p in _builtin()}
    folder = settings.profiles_root
    if folder.is_dir():
        for path in sorted(folder.glob("*.y*ml")):
            profile = _read(path, path.read_text(encoding="utf-8"))
            out[profile.name] = profile
    return out


def instrument_keys(record: MetadataRecord) -> set[str]:
    """What a profile or the registry can name an instrument by (case-folded)."""
    keys = {
        record.value("instrument.microscope.serial_number"),
        record.value("instrument.microscope.model"),
        record.value("instrument.registry_id"),
    }
    return {str(k).casefold() for k in keys if k not in (None, "")}


def select_profile(
    source: Path, record: MetadataRecord | None, settings: Settings, name: str | None = None
) -> Profile:
    """The profile for an acquisition found at ``source`` (or the one called ``name``).

    Raises
    ------
    SettingsError
        ``name`` or the ``profile`` setting names no profile.
    """
    profiles = load_profiles(settings)
    if name is None:
        by_folder = max(profiles.values(), key=lambda p: p.folder_match(source))
        if by_folder.folder_match(source):
            return by_folder
        keys = instrument_keys(record) if record is not None else set()
        for profile in profiles.values():
            if keys and profile.instrument_match(keys):
                return profile
    wanted = name or settings.profile
    if wanted not in profiles:
        raise SettingsError(
            f"no profile named '{wanted}'",
            where=settings.profiles_root,
            hint=f"profiles: {', '.join(sorted(profiles))}",
        )
    return profiles[wanted]
