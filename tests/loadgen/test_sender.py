"""The sender over aiohttp: error kinds as httpx would report them, one attempt per send."""

from __future__ import annotations

import asyncio

import pytest

from loopscope.embedded_server import EmbeddedServer
from loopscope.loadgen import HttpxSender, ScenarioRequest


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


async def test_a_dropped_connection_is_one_protocol_error_not_a_silent_retry() -> None:
    attempts = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await reader.readuntil(b"\r\n\r\n")  # read the request, then hang up
        writer.close()
        await writer.wait_closed()

    listener = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    sender = HttpxSender(f"http://127.0.0.1:{port}")
    try:
        record = await sender.send(ScenarioRequest(scenario="async"), user=0)
    finally:
        await sender.aclose()
        listener.close()
        await listener.wait_closed()
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

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    sender = HttpxSender(f"http://127.0.0.1:{port}", timeout_s=0.3)
    try:
        record = await sender.send(ScenarioRequest(scenario="async"), user=0)
    finally:
        release.set()
        await sender.aclose()
        await asyncio.gather(*handlers, return_exceptions=True)
        listener.close()
        await listener.wait_closed()
    assert record.error == "timeout"


def test_users_per_client_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HttpxSender("http://127.0.0.1:9", users_per_client=0)
