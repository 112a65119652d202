"""Lessons whose routes interact on one server: the window's theory (its session) is the
sweep engine's (what `loopscope run` measures with), and real runs follow it."""

from __future__ import annotations

import asyncio

import pytest

from loopscope.desktop_app.session import LabSession


async def _close(session: LabSession) -> None:
    await session.close()
    # Closed connections close their sockets in a callback of the loop: let the loop run
    # those before the test's loop goes (else "unclosed transport" in a later test).
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.slow
async def test_async_beside_the_blocking_route_follows_the_held_loop_theory() -> None:
    # The blocking lesson, smaller: 3 blocking users hold the loop back to back.
    session = LabSession()
    await session.open()
    try:
        session.apply(scenarios=("blocking", "async"), users=3, delay_ms=100, threads=40)
        window = session.prediction("async")
        results = {r.settings.scenario: r for r in await session.sweep([3], step_s=4.0)}
    finally:
        await _close(session)
    async_run = results["async"]
    # The window's theory and the engine's (what `loopscope run` measures with) agree, and
    # no longer say users / delay = 30 req/s at 100 ms.
    assert async_run.prediction.throughput_rps == pytest.approx(window.throughput_rps)
    assert window.throughput_rps == pytest.approx(15)
    assert window.latency_ms == pytest.approx(200)
    # Measured: generous bounds (a busy machine stretches the gaps between freezes). The
    # theory's two gaps a request is the slow case: on a quiet machine a request's answer
    # and the next request both fit in one gap of this test's plain asyncio loop (25.5 req/s,
    # p50 102 ms, on the commit before and after the wire work alike), so the top bound is
    # one freeze a request: users / delay.
    measured = async_run.summary
    assert 0.5 * window.throughput_rps <= measured.throughput_rps <= 1.1 * 3 / 0.1
    assert 0.45 * window.latency_ms <= measured.latency.p50 <= 2.0 * window.latency_ms


@pytest.mark.slow
async def test_the_cpu_lesson_theory_is_one_and_gives_def_half_per_user() -> None:
    session = LabSession()
    await session.open()
    try:
        session.apply(
            scenarios=("cpu-sync", "cpu-async"), users=2, delay_ms=0, threads=40, iterations=50_000
        )
        results = {r.settings.scenario: r for r in await session.sweep([2], step_s=4.0)}
        # The window's theory once the lesson has run: at the speed measured while it ran.
        window = {name: session.prediction(name) for name in session.scenarios}
    finally:
        await _close(session)
    for name, result in results.items():
        assert result.prediction.throughput_rps == pytest.approx(window[name].throughput_rps)
        assert result.prediction.latency_ms == pytest.approx(window[name].latency_ms)
    fast, slow = results["cpu-async"], results["cpu-sync"]
    assert fast.prediction.throughput_rps == pytest.approx(2 * slow.prediction.throughput_rps)
    # Measured, generous bounds: def clearly behind (2.0 on a quiet machine).
    ratio = fast.summary.throughput_rps / slow.summary.throughput_rps
    assert 1.3 < ratio < 3.0
