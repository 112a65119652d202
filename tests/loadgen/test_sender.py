"""The sender over its transports: error kinds as httpx would report them, one attempt per
send; `Http1Transport`'s connections (reuse, expiry, answers of every shape)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from loopscope.embedded_server import EmbeddedServer
from loopscope.loadgen import (
    AiohttpTransport,
    Http1Transport,
    HttpxSender,
    IncompatibleAiohttpError,
    RequestRecord,
    ScenarioRequest,
    TransportFactory,
    check_aiohttp,
    classify_error,
    classify_status,
    record_from_error,
    record_from_response,
)

# The two transports with the sender's fast path: the default, and the one it replaced.
FAST_TRANSPORTS = pytest.mark.parametrize(
    "transport", [Http1Transport, AiohttpTransport], ids=["http1", "aiohttp"]
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


async def send_one(url: str, transport: TransportFactory | None = None) -> RequestRecord:
    """One request from a fresh sender, closed afterwards."""
    sender = HttpxSender(url, transport_factory=transport)
    try:
        return await sender.send(ScenarioRequest(scenario="async"), user=0)
    finally:
        await sender.aclose()


@FAST_TRANSPORTS
async def test_a_dropped_connection_is_one_protocol_error_not_a_silent_retry(
    transport: TransportFactory,
) -> None:
    attempts = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await reader.readuntil(b"\r\n\r\n")  # read the request, then hang up
        writer.close()
        await writer.wait_closed()

    async with raw_server(drop) as url:
        record = await send_one(url, transport)
    assert record.error == "protocol"
    assert attempts == 1


@FAST_TRANSPORTS
async def test_no_answer_is_a_timeout(transport: TransportFactory) -> None:
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
        sender = HttpxSender(url, timeout_s=0.3, transport_factory=transport)
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


@FAST_TRANSPORTS
async def test_a_5xx_answer_is_http_5xx_not_4xx(transport: TransportFactory) -> None:
    async def fail(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with raw_server(fail) as url:
        record = await send_one(url, transport)
    assert record.status == 503 and record.error == "http_5xx"


def test_status_and_error_kinds_are_classified_in_one_place() -> None:
    assert [classify_status(s) for s in (101, 200, 204, 302, 404, 422, 499, 500, 502)] == [
        "protocol",
        None,
        None,
        "redirect",
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
def test_an_aiohttp_that_renamed_the_switch_stops_its_transport_before_any_request() -> None:
    with pytest.raises(IncompatibleAiohttpError, match=r"does not read ClientSession\._retry"):
        AiohttpTransport()
    # The default transport and any other the caller chose do not depend on the switch.
    HttpxSender("http://127.0.0.1:9")
    HttpxSender("http://127.0.0.1:9", transport_factory=httpx.AsyncHTTPTransport)


# Http1Transport: LoopScope's own HTTP/1.1 client (loadgen/_http1.py).

OK_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nserver-timing: work;dur=3\r\n\r\nok"


def answering(answers: list[bytes], connections: list[int]) -> Handler:
    """A handler that reads one request head per answer in `answers` (in turn, over all
    connections) and writes that answer; counts connections in `connections`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while answers:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answers.pop(0))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


async def send_all(url: str, count: int, **transport_options: Any) -> list[RequestRecord]:
    sender = HttpxSender(url, transport_factory=lambda: Http1Transport(**transport_options))
    try:
        return [await sender.send(ScenarioRequest(scenario="async"), user=0) for _ in range(count)]
    finally:
        await sender.aclose()


async def test_http1_keeps_one_connection_alive_for_a_users_requests() -> None:
    connections: list[int] = []
    async with raw_server(answering([OK_ANSWER] * 30, connections)) as url:
        records = await send_all(url, 30)
    assert [r.status for r in records] == [200] * 30
    assert records[0].server_work_s == pytest.approx(0.003)
    assert len(connections) == 1


async def test_http1_opens_a_new_connection_after_close_or_idle_expiry() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    connections: list[int] = []
    async with raw_server(answering([closing, closing], connections)) as url:
        records = await send_all(url, 2)
    assert [r.status for r in records] == [200, 200] and len(connections) == 2

    connections.clear()
    async with raw_server(answering([OK_ANSWER] * 2, connections)) as url:
        records = await send_all(url, 2, keepalive_expiry_s=0.0)
    assert [r.status for r in records] == [200, 200] and len(connections) == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nconnection: close\r\n\r\nthe body ends with the connection",
    ],
    ids=["chunked", "until-close"],
)
async def test_http1_reads_chunked_answers_and_answers_ended_by_close(answer: bytes) -> None:
    connections: list[int] = []
    async with raw_server(answering([answer], connections)) as url:
        (record,) = await send_all(url, 1)
    assert record.ok and record.status in (200, 201)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (b"this is not HTTP\r\n\r\n", "protocol"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "protocol"),
    ],
    ids=["garbage", "cut-short"],
)
async def test_http1_a_malformed_or_cut_answer_is_a_protocol_error(
    answer: bytes, kind: str
) -> None:
    connections: list[int] = []
    async with raw_server(answering([answer], connections)) as url:
        (record,) = await send_all(url, 1)
    assert record.error == kind


async def test_http1_a_refused_connection_is_a_connect_error() -> None:
    async with raw_server(answering([], [])) as url:
        pass  # closed: nothing listens on its port any more
    (record,) = await send_all(url, 1)
    assert record.error == "connect"


async def test_http1_a_cancelled_request_closes_its_connection_and_never_lends_it() -> None:
    """A Stop cancels requests in flight: each one's connection is closed at once (the
    server sees it go), never handed to somebody's next request, whose answer it could
    otherwise be mistaken for."""
    asked, hung_up = asyncio.Event(), asyncio.Event()
    connections: list[int] = []

    async def hold_then_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        if len(connections) == 1:
            asked.set()
            await reader.read()  # no answer: wait for the client to hang up
            hung_up.set()
        else:
            writer.write(OK_ANSWER)
            await writer.drain()
        writer.close()

    async with raw_server(hold_then_answer) as url:
        transport = Http1Transport()
        client = httpx.AsyncClient(base_url=url, transport=transport)
        try:
            first = asyncio.create_task(transport.exchange(client.build_request("GET", "/a")))
            await asyncio.wait_for(asked.wait(), 5)
            first.cancel()
            await asyncio.wait_for(hung_up.wait(), 5)
            status, timing = await transport.exchange(client.build_request("GET", "/b"))
        finally:
            await client.aclose()
    assert (status, timing) == (200, "work;dur=3")
    assert len(connections) == 2


async def test_http1_serves_any_httpx_client_with_headers_body_and_head(
    server: EmbeddedServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, transport=Http1Transport()) as client:
        answer = await client.get("/scenario/async", params={"delay_ms": "0"})
        head = await client.head("/scenario/async", params={"delay_ms": "0"})
        refused = await client.post("/scenario/async", content=b'{"x": 1}')
    assert answer.status_code == 200 and answer.json()
    assert "work" in answer.headers["server-timing"]
    assert head.status_code in (200, 405) and head.content == b""
    assert refused.status_code == 405


async def test_http1_refuses_what_it_does_not_speak() -> None:
    transport = Http1Transport()
    with pytest.raises(httpx.UnsupportedProtocol, match="only http:// and https://"):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1:9/"))
    await transport.aclose()


def test_without_aiohttp_the_alternative_transport_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aiohttp is an optional extra now (the executable leaves it out): the one line says so.
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # `import aiohttp` then fails
    check_aiohttp.cache_clear()
    with pytest.raises(IncompatibleAiohttpError, match=r"pip install 'loopscope\[aiohttp\]'"):
        AiohttpTransport()
    check_aiohttp.cache_clear()
