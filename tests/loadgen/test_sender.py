"""The sender over aiohttp: error kinds as httpx would report them, one attempt per send."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from loopscope.cli import main
from loopscope.embedded_server import EmbeddedServer
from loopscope.loadgen import (
    AiohttpTransport,
    HttpxSender,
    IncompatibleAiohttpError,
    RequestRecord,
    ScenarioRequest,
    check_aiohttp,
    classify_error,
    classify_status,
    record_from_error,
    record_from_response,
)


async def test_success_and_422_are_told_apart(server: EmbeddedServer) -> None:
    sender = HttpxSender(server.url)
    try:
        ok = await sender.send(ScenarioRequest(scenario="async", delay_ms=10), user=0)
        bad = await sender.send(ScenarioRequest(scenario="async", delay_ms=-1), user=1)
    finally:
        await sender.aclose()
    assert ok.ok and ok.status == 200 and ok.server_work_s is not None
    assert bad.status == 422 and bad.error == "http_4xx"
    assert sender.client_count <= 1


async def test_sending_leaves_no_cyclic_garbage_behind(server: EmbeddedServer) -> None:
    """Each request's garbage is freed by reference counting, so the cyclic collector has
    nothing to look for per request (it stops the shared loop to look). An httpx.Response
    is a cycle of ~16 objects: 200 requests through httpx's client left ~3200."""
    sender = HttpxSender(server.url)
    request = ScenarioRequest(scenario="async", delay_ms=0)
    try:
        await sender.send(request, user=0)  # connection, session and built request: once
        gc.collect()
        gc.disable()
        try:
            records = [await sender.send(request, user=0) for _ in range(200)]
            found = gc.collect()
        finally:
            gc.enable()
    finally:
        await sender.aclose()
    assert all(record.ok and record.server_work_s is not None for record in records)
    assert found < 100, f"{found} objects in reference cycles after 200 requests"


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A bare TCP server on loopback port 0 running `handler` per connection; yields its URL."""
    listener = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()
        await listener.wait_closed()


async def send_one(url: str) -> RequestRecord:
    """One request from a fresh sender, closed afterwards."""
    sender = HttpxSender(url)
    try:
        return await sender.send(ScenarioRequest(scenario="async"), user=0)
    finally:
        await sender.aclose()


async def test_a_dropped_connection_is_one_protocol_error_not_a_silent_retry() -> None:
    attempts = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await reader.readuntil(b"\r\n\r\n")  # read the request, then hang up
        writer.close()
        await writer.wait_closed()

    async with raw_server(drop) as url:
        record = await send_one(url)
    assert record.error == "protocol"
    assert attempts == 1


async def test_no_answer_is_a_timeout() -> None:
    release = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            await release.wait()  # never answers within the sender's timeout
        finally:
            writer.close()
            await writer.wait_closed()

    async with raw_server(silent) as url:
        sender = HttpxSender(url, timeout_s=0.3)
        try:
            record = await sender.send(ScenarioRequest(scenario="async"), user=0)
        finally:
            release.set()
            await sender.aclose()
            await asyncio.gather(*handlers, return_exceptions=True)
    assert record.error == "timeout"


def test_users_per_client_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HttpxSender("http://127.0.0.1:9", users_per_client=0)


async def test_a_5xx_answer_is_http_5xx_not_4xx() -> None:
    async def fail(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with raw_server(fail) as url:
        record = await send_one(url)
    assert record.status == 503 and record.error == "http_5xx"


def test_status_and_error_kinds_are_classified_in_one_place() -> None:
    assert [classify_status(s) for s in (200, 302, 404, 422, 499, 500, 502)] == [
        None,
        None,
        "http_4xx",
        "http_4xx",
        "http_4xx",
        "http_5xx",
        "http_5xx",
    ]
    url = httpx.Request("GET", "http://127.0.0.1:9/")
    assert classify_error(httpx.ConnectError("refused", request=url)) == "connect"
    assert classify_error(httpx.ReadTimeout("slow", request=url)) == "timeout"
    assert classify_error(httpx.RemoteProtocolError("dropped", request=url)) == "protocol"
    request = ScenarioRequest(scenario="async")
    answer = httpx.Response(502, headers={"server-timing": "wait;dur=2, work;dur=30"})
    record = record_from_response(request, answer, 1.0, 1.5, 7)
    assert (record.status, record.error, record.user) == (502, "http_5xx", 7)
    assert record.server_wait_s == pytest.approx(0.002)
    assert record.server_work_s == pytest.approx(0.030)
    failed = record_from_error(request, httpx.ConnectError("refused", request=url), 1.0, 1.1, 3)
    assert (failed.status, failed.error) == (None, "connect")
    assert failed.latency_s == pytest.approx(0.1)


async def test_the_transport_can_be_swapped_and_records_stay_the_senders(
    server: EmbeddedServer,
) -> None:
    made: list[httpx.AsyncBaseTransport] = []

    def httpcore_transport() -> httpx.AsyncBaseTransport:
        made.append(httpx.AsyncHTTPTransport())  # httpx's own transport (httpcore)
        return made[-1]

    sender = HttpxSender(server.url, transport_factory=httpcore_transport)
    try:
        ok = await sender.send(ScenarioRequest(scenario="async", delay_ms=10), user=0)
        bad = await sender.send(ScenarioRequest(scenario="async", delay_ms=-1), user=1)
    finally:
        await sender.aclose()
    assert len(made) == 1
    assert ok.ok and ok.status == 200 and ok.server_work_s is not None
    assert bad.status == 422 and bad.error == "http_4xx"


def test_the_installed_aiohttp_still_reads_the_resend_switch() -> None:
    check_aiohttp()  # raises if the pinned aiohttp had renamed `_retry_connection`
    assert IncompatibleAiohttpError.__mro__[1] is RuntimeError


@pytest.fixture
def aiohttp_without_the_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aiohttp as a release that renamed `_retry_connection` would be: a request method
    that never reads it (the real one, behind a wrapper that names no such attribute)."""
    original = aiohttp.ClientSession._request

    async def _request(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        return await original(self, *args, **kwargs)

    check_aiohttp.cache_clear()
    monkeypatch.setattr(aiohttp.ClientSession, "_request", _request)
    yield
    check_aiohttp.cache_clear()


@pytest.mark.usefixtures("aiohttp_without_the_switch")
def test_an_aiohttp_that_renamed_the_switch_stops_the_sender_before_any_request() -> None:
    with pytest.raises(IncompatibleAiohttpError, match=r"does not read ClientSession\._retry"):
        HttpxSender("http://127.0.0.1:9")
    with pytest.raises(IncompatibleAiohttpError):
        AiohttpTransport()
    # A transport the caller chose does not depend on the switch.
    HttpxSender("http://127.0.0.1:9", transport_factory=httpx.AsyncHTTPTransport)


@pytest.mark.usefixtures("aiohttp_without_the_switch")
def test_the_command_line_says_so_in_one_line_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["run", "--scenario", "async", "--concurrency", "1", "--duration", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("loopscope: aiohttp ") and "pip install" in err
