"""Classroom presets: what runs, at which settings, and the card that explains it.

One JSON file per preset in resources/presets/, listed in file-name order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from loopscope.embedded_server import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    SCENARIOS,
)
from loopscope.resources import resource_path


@dataclass(frozen=True, kw_only=True, slots=True)
class Preset:
    name: str
    scenarios: tuple[str, ...]
    users: int
    delay_ms: float
    threads: int = DEFAULT_THREADS
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT
    watch: str
    theory: str
    why: str
    settings_note: str = ""

    @property
    def explanation(self) -> str:
        """The card's text: what to watch, what theory predicts, why."""
        return f"Watch: {self.watch}\n\nTheory: {self.theory}\n\nWhy: {self.why}"


def load_preset(path: Path) -> Preset:
    """Read one preset file; a bad file raises ValueError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        preset = Preset(
            name=str(data["name"]),
            scenarios=tuple(data["scenarios"]),
            users=int(data["users"]),
            delay_ms=float(data["delay_ms"]),
            threads=int(data.get("threads", DEFAULT_THREADS)),
            iterations=int(data.get("iterations", DEFAULT_CPU_ITERATIONS)),
            fanout=int(data.get("fanout", DEFAULT_FANOUT)),
            watch=str(data["watch"]),
            theory=str(data["theory"]),
            why=str(data["why"]),
            settings_note=str(data.get("settings_note", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"preset file {path.name} is not valid: {exc}") from None
    unknown = set(preset.scenarios) - set(SCENARIOS)
    if unknown or not preset.scenarios:
        raise ValueError(f"preset file {path.name} names unknown scenarios: {sorted(unknown)}")
    return preset


def load_presets() -> tuple[Preset, ...]:
    return tuple(load_preset(path) for path in sorted(resource_path("presets").glob("*.json")))


PRESETS: tuple[Preset, ...] = load_presets()


def preset_named(name: str) -> Preset:
    for preset in PRESETS:
        if preset.name.lower() == name.lower():
            return preset
    known = ", ".join(f'"{p.name}"' for p in PRESETS)
    raise ValueError(f"unknown preset {name!r}; choose one of {known}")
