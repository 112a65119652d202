"""Generator health: the verdict from measured signs, and a real saturated client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from loopscope.embedded_server import EmbeddedServer, LoopLagMonitor
from loopscope.embedded_server.platform_support import FORCE_FALLBACKS_VARIABLE
from loopscope.loadgen import HttpxSender, LoadGenerator, Recorder, ScenarioRequest
from loopscope.loadgen.health import HealthMonitor, judge
from tests.conftest import wait_until
from tests.fallbacks import needs_linux


def test_healthy_signs_give_no_warning() -> None:
    verdict = judge(cpu_fraction=0.3, loop_lag_p99_ms=5, scenarios=("async",))
    assert not verdict.generator_limited
    assert verdict.to_json()["warnings"] == []


def test_each_sign_warns_on_its_own() -> None:
    assert "of a core" in judge(cpu_fraction=0.97, loop_lag_p99_ms=1).warnings[0]
    assert "ms late" in judge(cpu_fraction=0.1, loop_lag_p99_ms=120).warnings[0]
    late = judge(cpu_fraction=0.1, loop_lag_p99_ms=1, late_start_fraction=0.2)
    assert "started late" in late.warnings[0]


def test_lessons_that_block_by_design_are_not_blamed_on_the_client() -> None:
    assert not judge(cpu_fraction=0.2, loop_lag_p99_ms=400, scenarios=("blocking",)).warnings
    assert not judge(cpu_fraction=0.99, loop_lag_p99_ms=2, scenarios=("cpu-sync",)).warnings


async def test_a_saturated_client_is_detected(server: EmbeddedServer) -> None:
    """200 users against a 0 ms route: the one Python core is all busy."""
    recorder = Recorder()
    generator = LoadGenerator(
        HttpxSender(server.url), recorder.add, ScenarioRequest(scenario="async", delay_ms=0)
    )
    health = HealthMonitor(server.probes.loop_lag)
    generator.start(200)
    try:
        await asyncio.sleep(0.5)  # let the users ramp up, then measure
        health.restart()
        await asyncio.sleep(2.0)  # the measurement's own duration
        verdict = health.verdict(scenarios=("async",))
    finally:
        await generator.aclose()
    # On a shared machine the core may be stolen: then the loop lags instead.
    assert verdict.cpu_fraction > 0.85 or verdict.loop_lag_p99_ms >= 50
    assert verdict.generator_limited
    assert recorder.summary("async").ok > 100


async def test_a_light_load_is_healthy(server: EmbeddedServer) -> None:
    recorder = Recorder()
    generator = LoadGenerator(
        HttpxSender(server.url), recorder.add, ScenarioRequest(scenario="async", delay_ms=200)
    )
    health = HealthMonitor()  # its own lag timer, as for an external target
    health.start()
    generator.start(5)
    try:
        await asyncio.sleep(1.5)
        verdict = health.verdict(scenarios=("async",))
    finally:
        await generator.aclose()
        await health.stop()
    assert verdict.cpu_fraction < 0.5
    assert not verdict.generator_limited, verdict.warnings


def test_the_cli_warns_when_the_generator_is_the_bottleneck(
    tmp_path: object, capsys: object
) -> None:
    """`run` against a 0 ms route with 200 users: the summary and the JSON both say so."""
    import json
    from pathlib import Path

    from loopscope.cli import main

    assert isinstance(tmp_path, Path)
    out = tmp_path / "r.json"
    argv = [
        "run",
        "--scenario",
        "async",
        "--concurrency",
        "200",
        "--delay-ms",
        "0",
        "--duration",
        "2.5",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "WARNING, generator-limited" in printed
    health = json.loads(out.read_text())["generator_health"]
    assert health["generator_limited"] is True
    assert health["cpu_percent_of_one_core"] > 85 or health["loop_lag_p99_ms"] >= 50


def block_the_loop(seconds: float) -> None:
    """The stall under test, on the loop's thread (not a wait for anything)."""
    time.sleep(seconds)


async def test_a_stall_the_window_causes_itself_is_left_out() -> None:
    """The same 300 ms stall of the loop: inside ui_busy() it is the window's repaint and
    gives no warning; outside, it is lag the requests feel, and warns."""
    lag = LoopLagMonitor()
    lag.start()
    health = HealthMonitor(lag)
    try:
        await wait_until(lambda: len(lag.lags_since(0.0)) >= 5, what="lag ticks")
        health.restart()
        since = time.perf_counter()
        with health.ui_busy(settle_s=0.2):
            block_the_loop(0.3)  # as a repaint would
        await wait_until(lambda: not health.ui_busy_now, what="the span to settle")
        assert lag.max_since(since) >= 0.25  # the loop did stall
        ui_verdict = health.verdict(scenarios=("async",))
        assert ui_verdict.loop_lag_p99_ms < 50
        assert not ui_verdict.generator_limited

        health.restart()
        since = time.perf_counter()
        block_the_loop(0.3)  # the same stall, not the window's
        await wait_until(lambda: lag.max_since(since) >= 0.25, what="the late tick")
        verdict = health.verdict(scenarios=("async",))
        assert verdict.loop_lag_p99_ms >= 250
        assert any("ms late" in w for w in verdict.warnings)
    finally:
        await health.stop()
        await lag.stop()


def test_a_busy_machine_limit_is_named_by_its_own_sign() -> None:
    verdict = judge(cpu_fraction=0.45, loop_lag_p99_ms=2, cpu_demand=0.97)
    assert verdict.generator_limited
    assert "wanted 97% of a core and got 45%" in verdict.warnings[0]
    assert not judge(cpu_fraction=0.45, loop_lag_p99_ms=2, cpu_demand=0.5).warnings
    # A CPU lesson saturates the core by design, busy machine or not.
    assert not judge(
        cpu_fraction=0.45, loop_lag_p99_ms=2, cpu_demand=0.97, scenarios=("cpu-sync",)
    ).warnings


@needs_linux("schedstat and CPU affinity")
def test_a_client_starved_of_a_cpu_is_not_called_healthy() -> None:
    """This thread and a spinning process share one CPU: the thread gets about half of it
    while it wants all of it, which the verdict must call a limit, not health."""
    cpu = min(os.sched_getaffinity(0))
    rival = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"]
    )
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})  # this thread only
        health = HealthMonitor(LoopLagMonitor())
        health.restart()
        end = time.perf_counter() + 1.5
        while time.perf_counter() < end:  # a client that wants the whole core
            pass
        verdict = health.verdict()
    finally:
        os.sched_setaffinity(0, before)
        rival.kill()
        rival.wait()
    assert verdict.cpu_demand is not None and verdict.cpu_demand > 0.85, verdict
    assert verdict.cpu_fraction < 0.85, verdict  # the rival took its turns
    assert verdict.generator_limited


def test_where_the_system_does_not_say_the_wait_for_a_cpu_the_demand_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS, Windows (forced here): no schedstat, so no demand figure, not the CPU share
    passed off as one."""
    monkeypatch.setenv(FORCE_FALLBACKS_VARIABLE, "1")
    health = HealthMonitor(LoopLagMonitor())
    health.restart()
    end = time.perf_counter() + 0.6
    while time.perf_counter() < end:
        pass
    verdict = health.verdict()
    assert verdict.cpu_demand is None and verdict.cpu_fraction > 0, verdict
    assert verdict.to_json()["cpu_demand_percent_of_one_core"] is None
