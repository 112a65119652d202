"""Preset files are checked against one schema: a bad one is skipped with one line naming
the file and the field, and there is always at least one lesson."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loopscope.desktop_app.presets import DEFAULT_PRESET, bundled_presets, load_presets

GOOD: dict[str, Any] = {
    "name": "Good lesson",
    "scenarios": ["sync", "async"],
    "users": 10,
    "delay_ms": 100,
    "watch": "w",
    "theory": "t",
    "why": "y",
}


def _write(folder: Path, name: str, content: str | dict[str, Any]) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / name).write_text(text, encoding="utf-8")


def test_the_bundled_presets_all_load_cleanly() -> None:
    catalog = bundled_presets()
    assert len(catalog.presets) >= 5
    assert catalog.problems == ()
    assert DEFAULT_PRESET not in catalog.presets


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"name": "x", "scenarios": ', "preset 50-bad.json: not valid JSON"),
        ("[1, 2]", "preset 50-bad.json: expected a JSON object, got list"),
        ({**GOOD, "scenarios": "sync"}, "preset 50-bad.json: field 'scenarios': input should"),
        ({**GOOD, "scenarios": []}, "preset 50-bad.json: field 'scenarios'"),
        ({**GOOD, "scenarios": ["sync", "nope"]}, "field 'scenarios': unknown 'nope'"),
        ({**GOOD, "users": 5000}, "preset 50-bad.json: field 'users': input should be less"),
        ({**GOOD, "users": 0}, "field 'users': input should be greater than or equal to 1"),
        ({**GOOD, "users": "100"}, "field 'users': input should be a valid integer"),
        ({**GOOD, "users": True}, "field 'users'"),
        ({**GOOD, "delay_ms": -5}, "field 'delay_ms'"),
        ({**GOOD, "delay_ms": "1000"}, "field 'delay_ms': input should be a valid number"),
        ({**GOOD, "threads": 10_000}, "field 'threads'"),
        ({**GOOD, "name": "  "}, "field 'name'"),
        ({k: v for k, v in GOOD.items() if k != "why"}, "field 'why' is missing"),
        ({**GOOD, "thread": 5}, "preset 50-bad.json: unknown field 'thread'"),
        ({**GOOD, "workers": 2}, "field 'workers': more than 1 needs \"server_process\": true"),
        ({**GOOD, "server_process": True, "workers": 0}, "field 'workers'"),
        ({**GOOD, "server_process": True, "workers": 17}, "field 'workers'"),
        ({**GOOD, "server_process": "yes"}, "field 'server_process'"),
        ({**GOOD, "server_process": True, "view": "timeline"}, "field 'view': the timeline"),
        # Python's json reads these, JSON has no such numbers.
        (json.dumps(GOOD).replace('"delay_ms": 100', '"delay_ms": NaN'), "NaN is not a JSON"),
        (json.dumps(GOOD).replace('"delay_ms": 100', '"delay_ms": Infinity'), "Infinity"),
        (b"\xff\xfe{".decode("latin-1"), "preset 50-bad.json: not valid JSON"),
    ],
)
def test_a_bad_preset_is_skipped_with_a_line_naming_file_and_field(
    tmp_path: Path, content: str | dict[str, Any], expected: str
) -> None:
    _write(tmp_path, "10-good.json", GOOD)
    _write(tmp_path, "50-bad.json", content)
    catalog = load_presets(tmp_path)
    assert [p.name for p in catalog.presets] == ["Good lesson"]
    assert len(catalog.problems) == 1
    problem = catalog.problems[0]
    assert expected.lower() in problem.lower(), problem
    assert problem.endswith("; skipped")
    assert "\n" not in problem


def test_an_undecodable_file_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "10-good.json", GOOD)
    (tmp_path / "20-binary.json").write_bytes(b"\xff\xfe\x00garbage")
    catalog = load_presets(tmp_path)
    assert [p.name for p in catalog.presets] == ["Good lesson"]
    assert catalog.problems[0].startswith("preset 20-binary.json: ")


def test_a_second_preset_with_the_same_name_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "10-good.json", GOOD)
    _write(tmp_path, "20-again.json", {**GOOD, "name": "GOOD LESSON"})
    catalog = load_presets(tmp_path)
    assert len(catalog.presets) == 1
    assert catalog.problems == (
        "preset 20-again.json: field 'name': 'GOOD LESSON' is already used by 10-good.json; "
        "skipped",
    )


@pytest.mark.parametrize("folder_state", ["empty", "missing", "only bad"])
def test_no_usable_preset_gives_the_built_in_lesson(tmp_path: Path, folder_state: str) -> None:
    folder = tmp_path / "presets"
    if folder_state != "missing":
        folder.mkdir()
    if folder_state == "only bad":
        _write(folder, "01.json", "not json")
    catalog = load_presets(folder)
    assert catalog.presets == (DEFAULT_PRESET,)
    assert catalog.problems[-1] == (
        f"no usable preset in {folder}: opened the built-in lesson 'Sync vs async (built-in)'"
    )


def test_an_unknown_preset_name_lists_the_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "10-good.json", GOOD)
    with pytest.raises(ValueError, match=r"unknown preset 'nope'; choose one of \"Good lesson\""):
        load_presets(tmp_path).named("nope")
