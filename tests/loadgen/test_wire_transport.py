"""The wire as a careful client reads it: 1xx interim answers skipped, 3xx a kind of its own,
limits on an answer's head and body, the server's Keep-Alive timeout, one resend on a reused
connection the server closed; loopback targets in all their forms.

Misbehaving servers are bare asyncio socket servers on loopback port 0, each counting what it
received, so the client's records can be checked against the server's own count.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from loopscope.cli import main
from loopscope.loadgen import (
    Http1Transport,
    HttpxSender,
    LoadedServer,
    RequestRecord,
    RouteRequest,
    RunSettings,
    check_demo_target,
    check_loopback_target,
    check_remote_target,
    measure,
)
from loopscope.loadgen.export import run_record
from tests.conftest import wait_until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Wire:
    """What a raw server saw: requests read, answered, and dropped unanswered."""

    requests: int = 0
    answered: int = 0
    dropped: int = 0
    connections: int = 0
    written: int = 0
    ended: int = 0  # connections whose handler has ended
    methods: list[str] = field(default_factory=list)


# Called per request: (wire, the request's head, its number on this connection (1, 2...),
# seconds the connection was idle before it, writer) -> False to hang up unanswered.
Answer = Callable[[Wire, bytes, int, float, asyncio.StreamWriter], Awaitable[bool]]


@contextlib.asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[tuple[str, Wire]]:
    """A keep-alive HTTP/1.1 server on loopback that lets `answer` write each answer."""
    wire = Wire()
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        wire.connections += 1
        on_connection = 0
        idle_from = time.monotonic()
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                on_connection += 1
                wire.requests += 1
                wire.methods.append(head.split(b" ", 1)[0].decode())
                if not await answer(
                    wire, head, on_connection, time.monotonic() - idle_from, writer
                ):
                    wire.dropped += 1
                    return
                wire.answered += 1
                await writer.drain()
                idle_from = time.monotonic()
        except (ConnectionError, asyncio.CancelledError):
            return  # a cancel: the server closing (the stream's callback must not see it)
        finally:
            writer.close()
            handlers.discard(task)
            wire.ended += 1

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}", wire
    finally:
        listener.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listener.wait_closed()


def route(path: str = "/x", method: str = "GET") -> RouteRequest:
    body = b"{}" if method == "POST" else None
    return RouteRequest(scenario=f"{method} {path}", method=method, path=path, body=body)


async def send_all(
    url: str, requests: list[RouteRequest], **sender: object
) -> tuple[list[RequestRecord], HttpxSender]:
    """The requests one after another from one sender (one user), closed afterwards."""
    client = HttpxSender(url, timeout_s=10, **sender)  # type: ignore[arg-type]
    try:
        return [await client.send(request, user=0) for request in requests], client
    finally:
        await client.aclose()


# -- 1xx ---------------------------------------------------------------------------------------


async def early_hints(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    # 103 first, on its own write, then the answer (some servers send 100 Continue too).
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    await w.drain()
    w.write(OK)
    return True


async def test_interim_answers_are_skipped_and_every_answer_counted_once() -> None:
    """A 103 before each 200 was taken for the answer: the 200 then answered the next
    request, and the client counted more answers than the server gave."""
    records: list[RequestRecord] = []
    async with raw_server(early_hints) as (url, wire):
        settings = RunSettings(
            scenario="GET /x", route=route(), target=url, concurrency=4, duration_s=1.0
        )
        result = await measure(settings, LoadedServer(url), sink=records.append)
    assert records and all(r.status == 200 and r.ok for r in records), {
        (r.status, r.error) for r in records
    }
    assert len(records) == wire.requests == wire.answered
    assert result.summary.status_classes["2xx"] == result.summary.ok > 0
    assert result.summary.status_classes["1xx"] == 0


# -- 3xx ---------------------------------------------------------------------------------------


async def redirecting(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    target = head.split(b" ")[1]
    if target == b"/start":
        w.write(b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n")
    elif target in (b"/see-other", b"/temporary"):
        status = b"303 See Other" if target == b"/see-other" else b"307 Temporary Redirect"
        w.write(b"HTTP/1.1 %s\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n" % status)
    elif target == b"/away":
        location = b"http://127.0.0.2:9/elsewhere"  # another server: never followed
        w.write(b"HTTP/1.1 307 Temporary\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location)
    else:
        w.write(OK)
    return True


async def test_a_redirect_is_its_own_kind_with_its_location() -> None:
    async with raw_server(redirecting) as (url, wire):
        records, sender = await send_all(url, [route("/start")] * 3)
        settings = RunSettings(
            scenario="GET /start", route=route("/start"), target=url, duration_s=0.5
        )
        result = await measure(settings, LoadedServer(url))
    assert [(r.status, r.error) for r in records] == [(302, "redirect")] * 3
    assert sender.first_redirect == (302, "/final")
    assert wire.requests == wire.answered and wire.requests > 3  # none of them followed
    assert result.summary.ok == 0 and result.summary.errors.get("redirect", 0) > 0
    record = run_record(result)
    assert record["redirect"] == {"status": 302, "location": "/final"}
    assert record["status_classes"] == {
        "1xx": 0,
        "2xx": 0,
        "3xx": result.summary.errors["redirect"],
        "4xx": 0,
        "5xx": 0,
    }


async def test_follow_redirects_follows_on_the_same_server_only() -> None:
    async with raw_server(redirecting) as (url, wire):
        records, _ = await send_all(url, [route("/start"), route("/away")], follow_redirects=True)
    assert [(r.status, r.error) for r in records] == [(200, None), (307, "redirect")]
    assert wire.requests == 3  # /start, /final, /away: nothing went to 127.0.0.2


async def test_a_303_turns_a_post_into_a_get_and_a_307_keeps_it() -> None:
    async with raw_server(redirecting) as (url, wire):
        requests = [route("/see-other", "POST"), route("/temporary", "POST")]
        records, _ = await send_all(url, requests, follow_redirects=True)
    assert [(r.status, r.error) for r in records] == [(200, None), (200, None)]
    assert wire.methods == ["POST", "GET", "POST", "POST"]


# -- limits ------------------------------------------------------------------------------------


async def endless_header(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    chunk = b"a" * 65536
    while True:  # until the client hangs up (then drain raises ConnectionError)
        w.write(chunk)
        wire.written += len(chunk)
        await w.drain()
        if wire.written > 512 * 1024 * 1024:  # the client never stopped reading
            return False


async def many_headers(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 150 + b"Content-Length: 2\r\n\r\nok")
    return True


async def big_body(wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"b" * 100_000)
    return True


async def test_an_endless_header_is_oversized_and_the_connection_closed() -> None:
    """An endless header grew a run to 768 MiB in 6 s, and the run overran."""
    async with raw_server(endless_header) as (url, wire):
        async with asyncio.timeout(20):
            records, _ = await send_all(url, [route()])
        # The client hung up: the server's writes fail, with what it sent bounded by the
        # limit plus the sockets' buffers.
        await wait_until(lambda: wire.ended == 1, what="the client hanging up")
    assert records[0].error == "oversized"
    assert wire.written < 64 * 1024 * 1024, wire.written


@pytest.mark.parametrize("answer", [many_headers, big_body], ids=["header-lines", "body"])
async def test_too_many_header_lines_or_too_big_a_body_is_oversized(answer: Answer) -> None:
    async with raw_server(answer) as (url, wire):
        records, _ = await send_all(
            url,
            [route(), route()],
            transport_factory=lambda: Http1Transport(max_body_bytes=10_000),
        )
    assert [r.error for r in records] == ["oversized", "oversized"]
    assert wire.connections == 2  # the connection of an oversized answer is not reused


async def test_a_run_against_an_endless_header_ends_in_time() -> None:
    async with raw_server(endless_header) as (url, _wire):
        started = time.monotonic()
        settings = RunSettings(
            scenario="GET /x", route=route(), target=url, concurrency=2, duration_s=1.0
        )
        result = await measure(settings, LoadedServer(url))
    assert time.monotonic() - started < 8
    assert result.summary.ok == 0 and set(result.summary.errors) == {"oversized"}


# -- keep-alive --------------------------------------------------------------------------------


async def closes_after_one_idle_second(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    # Its idle timer fired as the request arrived (the race nginx's keepalive_timeout 1s
    # showed at --rate 1): a request on a connection idle 1 s or more is dropped unread.
    if n > 1 and idle >= 1.0:
        return False
    w.write(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok")
    return True


async def test_the_servers_keep_alive_timeout_is_followed() -> None:
    records: list[RequestRecord] = []
    async with raw_server(closes_after_one_idle_second) as (url, wire):
        sender = HttpxSender(url, timeout_s=10)
        try:
            for _ in range(3):
                records.append(await sender.send(route(), user=0))
                await asyncio.sleep(1.1)  # the load's pace (a low rate), not a synchronisation
        finally:
            await sender.aclose()
    assert [r.error for r in records] == [None] * 3
    assert wire.dropped == 0  # never sent on a connection the server was closing
    assert wire.connections == 3


async def drops_the_second_request(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    # A keep-alive connection closed silently: the second request on it is never answered.
    if n > 1:
        return False
    w.write(OK)
    return True


async def test_a_request_dropped_on_a_reused_connection_is_sent_once_more() -> None:
    async with raw_server(drops_the_second_request) as (url, wire):
        records, _ = await send_all(url, [route()] * 3)
    assert [r.error for r in records] == [None] * 3
    assert (wire.answered, wire.dropped) == (3, 2)  # each drop resent on a new connection


async def test_a_post_is_never_sent_twice() -> None:
    async with raw_server(drops_the_second_request) as (url, wire):
        records, _ = await send_all(url, [route(method="POST")] * 2)
    assert [r.error for r in records] == [None, "protocol"]
    assert (wire.requests, wire.methods) == (2, ["POST", "POST"])


async def half_answers_the_second(
    wire: Wire, head: bytes, n: int, idle: float, w: asyncio.StreamWriter
) -> bool:
    if n > 1:
        w.write(b"HTTP/1.1 200 OK\r\n")  # the answer began: the request was handled
        await w.drain()
        return False
    w.write(OK)
    return True


async def test_no_resend_once_a_byte_of_the_answer_came_back() -> None:
    async with raw_server(half_answers_the_second) as (url, wire):
        records, _ = await send_all(url, [route()] * 2)
    assert [r.error for r in records] == [None, "protocol"]
    assert wire.requests == 2


# -- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.2:8000/",
        "http://127.255.255.254:8000",
        "http://[::1]:8000",
        "https://localhost:8443",
        "https://LOCALHOST:8443",
        "https://127.0.0.1:8443",
        "http://localhost",
    ],
)
def test_loopback_in_all_its_forms(url: str) -> None:
    assert check_loopback_target(url) == url.rstrip("/")
    assert check_remote_target(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://128.0.0.1:8000",
        "http://10.0.0.1",
        "http://example.com",
        "http://localhost.example.com",
        "http://[::2]:8000",
        "ftp://127.0.0.1",
        "http://user@127.0.0.1",
    ],
)
def test_what_is_not_this_machine_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"this machine|http|user info"):
        check_loopback_target(url)


def test_https_to_another_host_is_a_remote_target() -> None:
    assert check_remote_target("https://example.com:8443/") == "https://example.com:8443"


@pytest.mark.parametrize("url", ["https://127.0.0.1:8000", "http://[::1]:8000"])
def test_the_demo_target_is_http_on_ipv4(url: str) -> None:
    with pytest.raises(ValueError, match="--url"):
        check_demo_target(url)
    assert check_demo_target("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_the_no_success_hint_fits_a_url_target(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    assert main(["run", "--url", url, "--duration", "0.5", "--warmup", "0"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("loopscope: no request succeeded (connect: "), last
    assert "first connect error" in last and "LoopScope server" not in last
