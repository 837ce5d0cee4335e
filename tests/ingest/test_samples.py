"""The demo's sample files say what they mean: every '#' in a sample YAML is data, not a comment."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ingest.samples import REGISTRY_YAML, SIDECAR_YAML


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("text", [SIDECAR_YAML, REGISTRY_YAML], ids=["sidecar", "registry"])
def test_no_value_is_cut_at_a_hash(text: str) -> None:
    """Issue 13 item 13: an unquoted ' #' ends a YAML value, silently dropping the rest."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    values = _strings(yaml.safe_load(body))
    assert body.count("#") == sum(v.count("#") for v in values)


def test_sample_preparation_protocol_is_whole() -> None:
    protocol = yaml.safe_load(SIDECAR_YAML)["specimen"]["sample_preparation_protocol"]
    assert protocol == (
        "Cells seeded on #1.5 glass-bottom dishes, transfected 24 h before imaging, "
        "fixed in 4% paraformaldehyde and kept in PBS."
    )
