"""The facility instrument registry: each microscope's hardware, described once.

A YAML file (``<home>/instruments.yaml`` by default)::

    instruments:
      - id: sd-room-2                       # the facility's name for the microscope
        match: {serial_number: "3742000153"}  # or {model: "...", manufacturer: "..."}
        fields:                             # record field paths -> values
          instrument.microscope.type: Inverted
          stage.encoded: true
        objectives:                         # matched to the record's objective by model
          - {model: "Plan Apo 60x/1.4 Oil", infinity_corrected: true, dic: false}
        detectors:                          # matched by model, or appended when none known
          - {model: "ORCA-Fusion", type: CMOS, pixel_width: 6.5, pixel_height: 6.5}
        light_sources: [...]
        filters: [...]
        dichroics: [...]

An acquisition matches an entry by its microscope serial number, else by model (and
manufacturer where the entry gives one). The registry only fills fields no file holds; a
disagreement with the file is kept as a conflict (source ``registry:<id>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from core.errors import SettingsError, first_problem
from core.fieldpaths import flatten
from core.records import Sourced
from core.yamlsafe import load_yaml

__all__ = ["Instrument", "load_registry", "match_instrument", "registry_fields"]

MAX_REGISTRY_BYTES = 4 * 1024**2
COMPONENTS = ("detectors", "light_sources", "filters", "dichroics")


class Instrument(BaseModel):
    """One microscope of the facility."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    match: dict[str, str]
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    objectives: tuple[dict[str, JsonValue], ...] = ()
    detectors: tuple[dict[str, JsonValue], ...] = ()
    light_sources: tuple[dict[str, JsonValue], ...] = ()
    filters: tuple[dict[str, JsonValue], ...] = ()
    dichroics: tuple[dict[str, JsonValue], ...] = ()


class _Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruments: list[Instrument] = Field(default_factory=list)


def load_registry(path: Path) -> list[Instrument]:
    """The instruments of the registry at ``path`` (none when the file does not exist).

    Raises
    ------
    SettingsError
        The file is too large, not YAML, or has a wrong field; the message names the entry.
    """
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > MAX_REGISTRY_BYTES:
        raise SettingsError(
            f"instrument registry is {size} bytes (cap {MAX_REGISTRY_BYTES})", where=path
        )
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"), where=path) or {}
        return _Registry.model_validate(doc).instruments
    except yaml.YAMLError as exc:
        raise SettingsError(f"instrument registry is not valid YAML ({exc})", where=path) from None
    except ValidationError as exc:
        where, message = first_problem(exc)
        raise SettingsError(
            f"instrument registry entry '{where}': {message}",
            where=path,
            hint="each instrument needs an id and a match on serial_number or model",
        ) from None


def _same(a: Any, b: Any) -> bool:
    return (
        a is not None and b is not None and str(a).strip().casefold() == str(b).strip().casefold()
    )


def match_instrument(fields: dict[str, Sourced], registry: list[Instrument]) -> Instrument | None:
    """The registry entry for the microscope the fields describe, or ``None``."""

    def value(key: str) -> Any:
        item = fields.get(f"instrument.microscope.{key}")
        return None if item is None else item.value

    for inst in registry:
        serial = inst.match.get("serial_number")
        if serial is not None and _same(serial, value("serial_number")):
            return inst
    for inst in registry:
        if "serial_number" in inst.match and value("serial_number") is not None:
            continue  # a different serial number: another microscope of the same model
        model = inst.match.get("model")
        maker = inst.match.get("manufacturer")
        if (
            model is not None
            and _same(model, value("model"))
            and (maker is None or _same(maker, value("manufacturer")))
        ):
            return inst
    return None


def _count(fields: dict[str, Sourced], kind: str) -> int:
    indices = {
        int(k[len(kind) + 1 :].split("]", 1)[0])
        for k in fields
        if k.startswith(f"{kind}[") and k[len(kind) + 1 :].split("]", 1)[0].isdigit()
    }
    return max(indices) + 1 if indices else 0


def registry_fields(fields: dict[str, Sourced], inst: Instrument) -> dict[str, Sourced]:
    """Field values the registry entry offers for an acquisition (the caller merges them).

    Components are matched to the record's by model (or serial number); when the record
    has none of a kind, every registered one is offered.
    """
    source = f"registry:{inst.id}"
    out: dict[str, JsonValue] = {"instrument.registry_id": inst.id, **flatten(dict(inst.fields))}
    if inst.objectives:
        model = fields.get("objective.model")
        chosen = next(
            (
                o
                for o in inst.objectives
                if model is not None and _same(o.get("model"), model.value)
            ),
            inst.objectives[0] if len(inst.objectives) == 1 and model is None else None,
        )
        if chosen is not None:
            out |= {f"objective.{k}": v for k, v in flatten(dict(chosen)).items()}
    for kind in COMPONENTS:
        registered: tuple[dict[str, JsonValue], ...] = getattr(inst, kind)
        known = _count(fields, kind)
        if not registered:
            continue
        if known == 0:
            for i, entry in enumerate(registered):
                out |= {f"{kind}[{i}].{k}": v for k, v in flatten(dict(entry)).items()}
            continue
        for i in range(known):
            model = fields.get(f"{kind}[{i}].model")
            serial = fields.get(f"{kind}[{i}].serial_number")
            comp: dict[str, JsonValue] | None = next(
                (
                    c
                    for c in registered
                    if (serial is not None and _same(c.get("serial_number"), serial.value))
                    or (model is not None and _same(c.get("model"), model.value))
                ),
                None,
            )
            if comp is not None:
                out |= {f"{kind}[{i}].{k}": v for k, v in flatten(dict(comp)).items()}
    return {k: Sourced(value=v, source=source) for k, v in out.items() if v is not None}
