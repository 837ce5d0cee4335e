from __future__ import annotations

import pytest

from core.fieldpaths import expand, flatten, parse_path


def test_parse_path() -> None:
    assert parse_path("channels[2].detector_settings.gain") == [
        "channels",
        2,
        "detector_settings",
        "gain",
    ]


def test_expand_and_flatten_round_trip() -> None:
    flat = {"a.b": 1, "a.c[0].d": "x", "a.c[1].d": "y", "k": [1, 2], "e[0]": "s"}
    nested = expand(flat)
    assert nested == {"a": {"b": 1, "c": [{"d": "x"}, {"d": "y"}]}, "k": [1, 2], "e": ["s"]}
    assert flatten(nested) == {"a.b": 1, "a.c[0].d": "x", "a.c[1].d": "y", "k": [1, 2], "e": ["s"]}


def test_empty_path_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_path("")


def test_conflicting_paths_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="conflicts"):
        expand({"planes.count": 1, "planes[0].delta_t": 0.5})
