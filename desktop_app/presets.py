"""Classroom presets: what runs, at which settings, and the card that explains it.

One JSON file per preset in resources/presets/, listed in file-name order. Every file is
checked against one schema when it is read; a bad file is skipped with one line naming the
file and the field, and the window opens anyway (with a built-in lesson if none is left).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from loopscope.embedded_server import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    MAX_BLOCKING_DELAY_MS,
    MAX_CPU_ITERATIONS,
    MAX_FANOUT,
    MAX_WORKERS,
    SCENARIOS,
)
from loopscope.loadgen import MAX_USERS
from loopscope.resources import resource_root

from .load_settings import LessonLoad
from .palette import SCENARIO_LABELS

# A preset must be something the controls can show: the delay slider ends at the blocking
# route's maximum and the thread-pool slider at 200 (controls.py), so a preset beyond them
# would run settings the window cannot display.
MAX_PRESET_DELAY_MS = MAX_BLOCKING_DELAY_MS
MAX_PRESET_THREADS = 200
# How far a lesson's measured figures may stray from its theory, unless its file says.
DEFAULT_TOLERANCE_PERCENT = 25


@dataclass(frozen=True, kw_only=True, slots=True)
class Expectation:
    """What the card tells the class to expect of one route at the lesson's settings: the
    theory the figures table shows (tests/desktop_app/test_lesson_cards.py checks each
    number against it). CPU-bound routes are told as their share of the core (their rate
    follows this machine's speed), and across worker processes as cores."""

    scenario: str
    throughput_rps: float | None = None
    latency_ms: float | None = None
    core_share: float | None = None
    cores: float | None = None

    def describe(self) -> str:
        label = SCENARIO_LABELS.get(self.scenario, self.scenario)
        parts = []
        if self.throughput_rps is not None:
            parts.append(f"{self.throughput_rps:.3g} req/s")
        if self.latency_ms is not None:
            latency = self.latency_ms
            parts.append(f"{latency / 1000:.3g} s" if latency >= 1000 else f"{latency:.3g} ms")
        if self.core_share is not None:
            parts.append(f"{self.core_share:.0%} of the one core")
        if self.cores is not None:
            parts.append(f"{self.cores:g} cores' worth")
        return f"{label} {', '.join(parts)}"


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
    #: What the charts' bottom row shows at first: the response curve, or the per-request
    #: timeline (the lessons about waiting for a thread or for the loop).
    view: str = "curve"
    #: Where the demo server runs for this lesson: its own process with `workers` worker
    #: processes, or (False, the default) the window's loop.
    server_process: bool = False
    workers: int = 1
    #: What to expect at these settings (the table's theory), and how close the measured
    #: figures come to it (±, of the theory).
    expect: tuple[Expectation, ...] = ()
    tolerance_percent: int = DEFAULT_TOLERANCE_PERCENT

    def load(self) -> LessonLoad:
        """The load this lesson sets (`LabSession.apply` takes it as it is)."""
        return LessonLoad(
            scenarios=self.scenarios,
            users=self.users,
            delay_ms=self.delay_ms,
            threads=self.threads,
            iterations=self.iterations,
            fanout=self.fanout,
        )

    @property
    def expectation(self) -> str:
        """The card's numbers, with the tolerance the measured figures meet ("": none)."""
        if not self.expect:
            return ""
        each = "; ".join(e.describe() for e in self.expect)
        return (
            f"{each}: the table's theory at these settings; measured figures within "
            f"±{self.tolerance_percent} % of it."
        )

    @property
    def explanation(self) -> str:
        """The card's text: what to watch, what theory predicts, what to expect, why."""
        expect = f"\n\nExpect: {self.expectation}" if self.expect else ""
        return f"Watch: {self.watch}\n\nTheory: {self.theory}{expect}\n\nWhy: {self.why}"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Figure = Annotated[float, Field(gt=0)]


class _ExpectFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    throughput_rps: Figure | None = None
    latency_ms: Figure | None = None
    core_share: Annotated[float, Field(gt=0, le=1)] | None = None
    cores: Figure | None = None


class _PresetFile(BaseModel):
    """The schema of one preset file. Strict: "100" is not a number of users, a string is
    not a list of scenarios, and NaN/inf are not numbers; unknown keys are refused so a typo
    in an optional field ("thread") is reported instead of silently ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    name: Text
    scenarios: Annotated[list[str], Field(min_length=1)]
    users: Annotated[int, Field(ge=1, le=MAX_USERS)]
    # Strict floats still take JSON integers: 1000 and 1000.0 both do, "1000" does not.
    delay_ms: Annotated[float, Field(ge=0, le=MAX_PRESET_DELAY_MS)]
    threads: Annotated[int, Field(ge=1, le=MAX_PRESET_THREADS)] = DEFAULT_THREADS
    iterations: Annotated[int, Field(ge=1, le=MAX_CPU_ITERATIONS)] = DEFAULT_CPU_ITERATIONS
    fanout: Annotated[int, Field(ge=1, le=MAX_FANOUT)] = DEFAULT_FANOUT
    watch: Text
    theory: Text
    why: Text
    settings_note: str = ""
    view: Literal["curve", "timeline"] = "curve"
    server_process: bool = False
    workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 1
    expect: dict[str, _ExpectFile] = {}
    tolerance_percent: Annotated[int, Field(ge=1, le=100)] = DEFAULT_TOLERANCE_PERCENT


# The lesson the window opens with when no preset file could be read: the window still
# works, and the card says where the presets should have been.
DEFAULT_PRESET = Preset(
    name="Sync vs async (built-in)",
    scenarios=("sync", "async"),
    users=100,
    delay_ms=1000,
    threads=DEFAULT_THREADS,
    watch="async climbs to 100 req/s; def stops at 40 req/s and its latency grows to 2.5 s.",
    theory="async: users / delay = 100 req/s. def: min(users, threads) / delay = 40 req/s.",
    why="No preset file could be read, so LoopScope opened this built-in lesson. The async "
    "def route awaits its wait on the event loop; the def route needs one of 40 threads.",
    expect=(
        Expectation(scenario="async", throughput_rps=100, latency_ms=1000),
        Expectation(scenario="sync", throughput_rps=40, latency_ms=2500),
    ),
    tolerance_percent=20,
)


class PresetError(ValueError):
    """One preset file that cannot be used; the message names the file and the field."""


def _describe(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(the whole file)"
    got = first.get("input")
    shown = repr(got) if isinstance(got, str | int | float | bool) else type(got).__name__
    message = first["msg"][0].lower() + first["msg"][1:]
    if first["type"] == "missing":
        return f"preset {path.name}: field {field!r} is missing"
    if first["type"] == "extra_forbidden":
        return f"preset {path.name}: unknown field {field!r}"
    others = error.error_count() - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    return f"preset {path.name}: field {field!r}: {message}, got {shown}{more}"


def load_preset(path: Path) -> Preset:
    """Read and check one preset file; PresetError (one line naming the file and the field)
    when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PresetError(f"preset {path.name}: cannot be read: {reason}") from None
    try:
        # parse_constant: Python's json reads NaN and Infinity, which JSON itself has not.
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise PresetError(f"preset {path.name}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"preset {path.name}: expected a JSON object, got {type(data).__name__}")
    try:
        checked = _PresetFile.model_validate(data)
    except ValidationError as exc:
        raise PresetError(_describe(path, exc)) from None
    unknown = sorted(set(checked.scenarios) - set(SCENARIOS))
    if unknown:
        raise PresetError(
            f"preset {path.name}: field 'scenarios': unknown {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(SCENARIOS)}"
        )
    if checked.workers > 1 and not checked.server_process:
        raise PresetError(
            f"preset {path.name}: field 'workers': more than 1 needs \"server_process\": true"
        )
    if checked.server_process and checked.view == "timeline":
        raise PresetError(
            f"preset {path.name}: field 'view': the timeline needs the server in the "
            'window\'s loop, not "server_process": true'
        )
    strays = sorted(set(checked.expect) - set(checked.scenarios))
    if strays:
        raise PresetError(
            f"preset {path.name}: field 'expect': {', '.join(map(repr, strays))} "
            "not among the lesson's scenarios"
        )
    return Preset(
        name=checked.name,
        scenarios=tuple(dict.fromkeys(checked.scenarios)),
        users=checked.users,
        delay_ms=checked.delay_ms,
        threads=checked.threads,
        iterations=checked.iterations,
        fanout=checked.fanout,
        watch=checked.watch,
        theory=checked.theory,
        why=checked.why,
        settings_note=checked.settings_note,
        view=checked.view,
        server_process=checked.server_process,
        workers=checked.workers,
        expect=tuple(
            Expectation(scenario=name, **figures.model_dump())
            for name, figures in checked.expect.items()
        ),
        tolerance_percent=checked.tolerance_percent,
    )


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


@dataclass(frozen=True, slots=True)
class PresetCatalog:
    """The presets the window offers (never empty) and one line per problem met loading them."""

    presets: tuple[Preset, ...]
    problems: tuple[str, ...] = ()

    def named(self, name: str) -> Preset:
        """The preset called `name` (any case); ValueError listing the known ones."""
        for preset in self.presets:
            if preset.name.lower() == name.lower():
                return preset
        known = ", ".join(f'"{p.name}"' for p in self.presets)
        raise ValueError(f"unknown preset {name!r}; choose one of {known}")


def load_presets(folder: Path | None = None) -> PresetCatalog:
    """Every usable preset in `folder` (default: the bundled resources/presets), skipping
    bad files with a problem line each; with none usable, the built-in DEFAULT_PRESET."""
    folder = resource_root() / "presets" if folder is None else folder
    problems: list[str] = []
    presets: list[Preset] = []
    try:
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    except OSError as exc:  # e.g. a folder we may not list
        problems.append(f"presets in {folder} cannot be listed: {exc.strerror or exc}")
        paths = []
    names: dict[str, str] = {}
    for path in paths:
        try:
            preset = load_preset(path)
        except PresetError as exc:
            problems.append(f"{exc}; skipped")
            continue
        if preset.name.lower() in names:
            # The lesson list and --preset find presets by name: a second one would be unreachable.
            problems.append(
                f"preset {path.name}: field 'name': {preset.name!r} is already used by "
                f"{names[preset.name.lower()]}; skipped"
            )
            continue
        names[preset.name.lower()] = path.name
        presets.append(preset)
    if not presets:
        problems.append(
            f"no usable preset in {folder}: opened the built-in lesson {DEFAULT_PRESET.name!r}"
        )
        presets.append(DEFAULT_PRESET)
    return PresetCatalog(tuple(presets), tuple(problems))


@functools.cache
def bundled_presets() -> PresetCatalog:
    """The presets shipped in resources/presets (read once per process)."""
    return load_presets()


def preset_named(name: str) -> Preset:
    """A bundled preset by name; ValueError (one line) listing the known ones."""
    return bundled_presets().named(name)
