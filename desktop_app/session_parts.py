"""`SessionParts`: what the session's load and measurement share, built once by
`LabSession` and handed to each whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loopscope.loadgen import CpuCostMeter, Recorder, WireLog

from .annotations import MarkerLog
from .load_settings import LoadSettings
from .placement import DemoServer
from .predictions import Predictions
from .your_app import YourApp


@dataclass(frozen=True, slots=True)
class SessionParts:
    """The session's core parts: the settings, where the load goes, the theory, and where
    what happens is written down."""

    #: What the load is set to (`LoadControl` changes it, the others read it).
    settings: LoadSettings
    #: The demo server where its placement says.
    server: DemoServer
    #: The user's own app or URL, and the route of it under load.
    your_app: YourApp
    #: The theory's figures at the current settings.
    predictions: Predictions
    #: Every request's record, for the charts and the table.
    recorder: Recorder
    #: The senders' own send and receive times of the demo routes' requests: the
    #: timeline's time on the wire (the server's phase table has the rest).
    wire: WireLog
    #: Setting changes while the load runs ("threads 10 → 58"), for the time charts.
    markers: MarkerLog
    #: This machine's speed for the CPU theory (a shared machine's speed drifts).
    cpu_meter: CpuCostMeter
    #: A scenario's level changed at a perf_counter time: its curve point pools afresh
    #: (`Settling.unsettle`).
    on_level_change: Callable[[str, float], None]
