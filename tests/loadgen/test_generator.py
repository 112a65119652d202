"""The generator against the real embedded server on loopback."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Literal

import pytest

from loopscope.embedded_server import EmbeddedServer, create_app
from loopscope.loadgen import (
    BaseLoadGenerator,
    HttpxSender,
    LoadGenerator,
    OpenLoopGenerator,
    Recorder,
    RecordSink,
    RequestRecord,
    ScenarioRequest,
)
from tests.conftest import wait_until


async def test_set_concurrency_up_and_down_while_running(server: EmbeddedServer) -> None:
    recorder = Recorder()
    generator = LoadGenerator(
        HttpxSender(server.url), recorder.add, ScenarioRequest(scenario="async", delay_ms=100)
    )
    probes = server.probes
    try:
        generator.start(5)
        await wait_until(lambda: probes.in_flight()["async"] == 5, what="5 in flight")
        generator.set_concurrency(25)
        await wait_until(lambda: probes.in_flight()["async"] == 25, what="25 in flight")
        assert generator.in_flight == 25
        generator.set_concurrency(3)
        # Removed users finish their request, then leave.
        await wait_until(lambda: generator.active_users == 3, what="22 users leaving")
        await wait_until(lambda: probes.in_flight()["async"] <= 3, what="server sees 3")
        assert generator.in_flight <= 3
        sent = generator.sent
        await wait_until(lambda: generator.sent > sent + 6, what="the 3 users going on")
        assert probes.in_flight()["async"] <= 3
    finally:
        await generator.aclose()
    assert generator.in_flight == 0
    assert recorder.summary("async").ok > 20
    assert recorder.summary("async").errors == {}


async def test_delay_changes_live(server: EmbeddedServer) -> None:
    recorder = Recorder()
    request = ScenarioRequest(scenario="async", delay_ms=20)
    generator = LoadGenerator(HttpxSender(server.url), recorder.add, request)
    try:
        generator.start(4)
        await wait_until(lambda: recorder.summary("async").ok >= 8, what="fast requests")
        generator.set_request(request.with_delay(300))
        recorder.begin_measurement()
        # 4 fast requests were still in flight; 8 more are slow ones.
        await wait_until(lambda: recorder.summary("async").ok >= 12, what="slow requests")
    finally:
        await generator.aclose()
    assert recorder.summary("async").latency.p50 >= 250
    with pytest.raises(ValueError, match="keeps its scenario"):
        generator.set_request(ScenarioRequest(scenario="sync"))


async def test_concurrency_is_bounded() -> None:
    generator = LoadGenerator(
        HttpxSender("http://127.0.0.1:9"), lambda r: None, ScenarioRequest(scenario="async")
    )
    with pytest.raises(ValueError, match="between 0 and 1000"):
        generator.set_concurrency(1001)
    await generator.aclose()


async def test_errors_are_recorded_when_the_server_is_gone() -> None:
    server = EmbeddedServer(create_app())
    await server.start()
    url = server.url
    await server.stop()
    recorder = Recorder()
    generator = LoadGenerator(HttpxSender(url), recorder.add, ScenarioRequest(scenario="async"))
    try:
        generator.start(2)
        await wait_until(lambda: recorder.summary("async").requests >= 4, what="errors")
    finally:
        await generator.aclose()
    summary = recorder.summary("async")
    assert summary.ok == 0
    assert set(summary.errors) == {"connect"}


async def test_a_server_that_drops_every_connection_does_not_make_a_busy_loop() -> None:
    """It accepts and closes at once: each request fails in well under a millisecond, so
    without a back-off two users would send thousands of requests a second."""

    async def drop(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(drop, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    recorder = Recorder()
    generator = LoadGenerator(HttpxSender(url), recorder.add, ScenarioRequest(scenario="async"))
    try:
        generator.start(2)
        await wait_until(lambda: recorder.summary("async").requests >= 4, what="failures")
        started, sent = time.perf_counter(), generator.sent
        await asyncio.sleep(0.5)  # the span measured, not a synchronisation
        rate = (generator.sent - sent) / (time.perf_counter() - started)
    finally:
        await generator.aclose()
        listener.close()
        await listener.wait_closed()
    assert set(recorder.summary("async").errors) == {"protocol"}
    # 2 users backing off 50 ms each: at most ~40 a second (generous: 100).
    assert rate < 100, f"{rate:.0f} requests a second against a server that drops them all"


async def test_shutdown_under_load_leaves_nothing_behind() -> None:
    server = EmbeddedServer(create_app())
    await server.start()
    recorder = Recorder()
    generator = LoadGenerator(
        HttpxSender(server.url), recorder.add, ScenarioRequest(scenario="sync", delay_ms=50)
    )
    generator.start(60)
    await wait_until(lambda: server.probes.threadpool().waiting > 0, what="a queue")
    # Stop everything while 60 requests are in flight or queued for a thread.
    await generator.aclose()
    await server.stop()
    await asyncio.sleep(0)  # let finished callbacks run before looking
    assert {t for t in asyncio.all_tasks() if not t.done()} == {asyncio.current_task()}
    gc.collect()  # any unclosed socket or transport would warn now (warnings are errors)
    assert recorder.summary("sync").ok > 0


# Both generators share one base: the same stop (grace, then cancel), the same failure
# handling, the same aclose. Each test runs against the closed and the open loop.

GeneratorKind = Literal["closed", "open"]


def _make(
    kind: GeneratorKind, sender: HttpxSender, sink: RecordSink, request: ScenarioRequest
) -> BaseLoadGenerator:
    if kind == "closed":
        closed = LoadGenerator(sender, sink, request)
        closed.start(4)
        return closed
    opened = OpenLoopGenerator(sender, sink, request, max_in_flight=4)
    opened.start(200)  # far more than 4 connections of 3 s requests carry: all 4 stay busy
    return opened


@pytest.mark.parametrize("kind", ["closed", "open"])
async def test_both_generators_stop_within_grace_and_close_the_sender(
    server: EmbeddedServer, kind: GeneratorKind
) -> None:
    sender = HttpxSender(server.url)
    records: list[RequestRecord] = []
    request = ScenarioRequest(scenario="async", delay_ms=3000)
    generator = _make(kind, sender, records.append, request)
    try:
        assert isinstance(generator, BaseLoadGenerator) and generator.running
        await wait_until(lambda: server.probes.in_flight()["async"] == 4, what="4 in flight")
        assert generator.in_flight == 4 and generator.sent == 4
        started = time.perf_counter()
        await generator.stop(grace_s=0.1)  # the 3 s requests cannot finish: they are cancelled
        assert time.perf_counter() - started < 2.0  # well before they would have ended
        assert not generator.running and generator.in_flight == 0
        # Nothing of the generator is left (the server's own tasks share this loop).
        left = [t.get_name() for t in asyncio.all_tasks() if not t.done()]
        assert not [name for name in left if name.startswith("loopscope-open")]
        assert not [name for name in left if name.startswith("loopscope-user")]
        assert records == []  # a cancelled request has no record
        assert sender.client_count == 1
    finally:
        await generator.aclose()
    assert sender.client_count == 0
    # A closed sender opens nothing new: what is sent now is a failed record.
    late = await sender.send(request, user=0)
    assert late.error == "other" and sender.client_count == 0


@pytest.mark.parametrize("kind", ["closed", "open"])
async def test_a_bug_is_raised_by_stop_and_the_sender_is_closed_anyway(
    server: EmbeddedServer, kind: GeneratorKind
) -> None:
    def broken_sink(record: RequestRecord) -> None:
        raise RuntimeError("a bug in the sink")

    sender = HttpxSender(server.url)
    generator = _make(kind, sender, broken_sink, ScenarioRequest(scenario="async", delay_ms=10))
    # The closed loop's users die one by one (the others go on until then); the open loop
    # stops starting requests at the first bug.
    if isinstance(generator, LoadGenerator):
        await wait_until(lambda: generator.active_users == 0, what="every user to fail")
    else:
        await wait_until(lambda: not generator.running, what="the generator to stop")
    with pytest.raises(RuntimeError, match="a bug in the sink"):
        await generator.aclose()
    assert sender.client_count == 0
    await generator.aclose()  # the bug was raised once: closing again is quiet
