"""Every parser fairway runs on files people write is bounded in depth and work (issue 13.2).

A 200 KB ``fairway.yaml`` holding a list nested 100,000 deep kept a worker at full CPU for
ten minutes (PyYAML's scanner is quadratic in the flow depth) or ended in a
``RecursionError``; the same in JSON ended in a ``RecursionError``. Each is refused with a
typed error naming the file, after reading no more than the first levels.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import CorruptInputError, FairwayError, UnsafeInputError
from core.fieldpaths import MAX_INDEX, expand, parse_path
from core.jsonsafe import load_json
from core.yamlsafe import MAX_DEPTH, load_yaml
from metadata.fixes import InvalidFixError, read_fix_file
from metadata.sidecar import read_sidecar

DEEP = 100_000

#: the issue's sidecar: a list nested 100,000 deep (200 KB), and its block-style and mapping
#: cousins (a compact block sequence ``- - - x`` and flow mappings)
DEEP_YAML = {
    "flow-list": "study:\n  title: " + "[" * DEEP + "]" * DEEP + "\n",
    "flow-list-one-per-line": "study:\n  title:\n" + "   [\n" * DEEP + "   ]\n" * DEEP,
    "flow-mapping": "study: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
    "block-sequence": "study:\n  keywords:\n    " + "- " * DEEP + "x\n",
    "unclosed": "study: " + "[" * DEEP,
}


@pytest.mark.parametrize("text", DEEP_YAML.values(), ids=DEEP_YAML.keys())
def test_deep_yaml_sidecar_is_refused_at_once(tmp_path: Path, text: str) -> None:
    side = tmp_path / "fairway.yaml"
    side.write_text(text, encoding="utf-8")
    assert side.stat().st_size < 1024**2  # under the sidecar cap: the parser must bound it
    with pytest.raises(UnsafeInputError, match=f"deeper than {MAX_DEPTH} levels") as err:
        read_sidecar(side, max_bytes=1024**2)
    assert str(side) in str(err.value)


def test_yaml_depth_limit_is_exact() -> None:
    ok = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
    value = load_yaml(ok, where="x.yaml")
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == [1]
    with pytest.raises(UnsafeInputError, match="deeper than"):
        load_yaml("[" + ok + "]", where="x.yaml")
    block = "".join(f"{' ' * 2 * i}k{i}:\n" for i in range(MAX_DEPTH)) + " " * 2 * MAX_DEPTH + "v\n"
    assert load_yaml(block, where="x.yaml")["k0"]["k1"]["k2"] is not None
    with pytest.raises(UnsafeInputError, match="deeper than"):
        load_yaml("top:\n" + "".join("  " + line + "\n" for line in block.splitlines()), where="x")


def test_yaml_anchors_and_aliases_still_refused() -> None:
    with pytest.raises(UnsafeInputError, match="anchors and aliases"):
        load_yaml("a: &x 1\nb: *x\n", where="x.yaml")
    with pytest.raises(UnsafeInputError, match="anchors and aliases"):
        load_yaml("a: &x [1, 2]\n", where="x.yaml")


def test_ordinary_yaml_reads_as_before() -> None:
    text = "study:\n  title: 'a [b] {c}'\n  keywords: [x, y]\n  n: 3\nlist:\n- a: 1\n- b: [2]\n"
    assert load_yaml(text, where="x.yaml") == {
        "study": {"title": "a [b] {c}", "keywords": ["x", "y"], "n": 3},
        "list": [{"a": 1}, {"b": [2]}],
    }


def test_deep_json_sidecar_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    side = tmp_path / "fairway.json"
    side.write_text('{"study": ' + "[" * DEEP + "]" * DEEP + "}", encoding="utf-8")
    with pytest.raises(UnsafeInputError, match=f"deeper than {MAX_DEPTH} levels"):
        read_sidecar(side, max_bytes=1024**2)


def test_json_brackets_inside_strings_do_not_count() -> None:
    text = '{"a": "' + "[{" * 5000 + '\\"]", "b": [1, {"c": "}}}"}]}'
    assert load_json(text, where="x.json")["b"][1] == {"c": "}}}"}
    with pytest.raises(CorruptInputError, match="not valid JSON"):
        load_json('{"a": ', where="x.json")


CSV_CASES = {
    "nul-byte": "field,value\nstudy.title,a\x00b\n",
    "cell-above-csv-limit": "field,value\nstudy.title," + "x" * 200_000 + "\n",
    "deep-field-path": "field,value\n" + ".".join(["a"] * 1000) + ",1\n",
    "huge-index": "field,value\nchannels[999999999999].name,x\n",
}


@pytest.mark.parametrize("text", CSV_CASES.values(), ids=CSV_CASES.keys())
def test_hostile_csv_sidecar_is_a_typed_refusal(tmp_path: Path, text: str) -> None:
    side = tmp_path / "fairway.csv"
    side.write_text(text, encoding="utf-8")
    with pytest.raises(FairwayError) as err:
        read_sidecar(side, max_bytes=1024**2)
    assert str(side) in str(err.value)


FIX_CASES = {
    "deep.yaml": "fw-1:\n  study.title: " + "[" * DEEP + "]" * DEEP + "\n",
    "deep-path.yaml": "fw-1:\n  " + ".".join(["a"] * 1000) + ": 1\n",
    "deep-path.csv": "dataset," + ".".join(["a"] * 1000) + "\nfw-1,1\n",
    "sparse-index.csv": "dataset,channels[99999999].name\nfw-1,x\n",
    "nul.csv": "dataset,study.title\nfw-1,a\x00b\n",
}


@pytest.mark.parametrize("name", FIX_CASES)
def test_hostile_fix_file_is_a_typed_refusal(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(FIX_CASES[name], encoding="utf-8")
    with pytest.raises((UnsafeInputError, InvalidFixError, CorruptInputError)) as err:
        read_fix_file(path)
    assert str(path) in str(err.value)


def test_field_paths_are_bounded() -> None:
    assert parse_path(f"channels[{MAX_INDEX}].name") == ["channels", MAX_INDEX, "name"]
    with pytest.raises(ValueError, match="index"):
        parse_path(f"channels[{MAX_INDEX + 1}].name")
    with pytest.raises(ValueError, match="parts"):
        parse_path(".".join(["a"] * 1000))
    # many sparse indices, each allowed alone, cannot add up to billions of list items
    with pytest.raises(ValueError, match="sparse"):
        expand({f"k{i}[{MAX_INDEX}]": 1 for i in range(10_000)})
