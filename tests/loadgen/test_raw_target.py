"""A typed route or URL goes on the wire byte for byte: path and query exactly as given."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from geventhttpclient.url import URL as GeventURL
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from loopscope._locust_command import locust_target
from loopscope._options import UsageError
from loopscope._route_options import parse_route, url_target
from loopscope.cli import main
from loopscope.loadgen import AiohttpTransport, HttpxSender, RouteRequest

UNRESERVED = "ABCXYZabcxyz0189-._~"
SUB_DELIMS = "!$&'()*+,;="
# Printable ASCII that is valid in a request target, as the user would type it.
_char = st.sampled_from(list(UNRESERVED + SUB_DELIMS + "/?=&+"))
_escape = st.builds(lambda h: f"%{h:02X}", st.integers(0, 255))
_text = st.lists(st.one_of(_char, _char, _char, _escape), max_size=30).map("".join)
_target = st.builds(
    lambda path, query: "/" + path + ("" if query is None else "?" + query),
    _text,
    st.none() | _text,
)


async def _echo(
    lines: list[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A raw HTTP/1.1 server's connection: it keeps every request line, as bytes."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines.append(head.split(b"\r\n", 1)[0])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        await writer.wait_closed()


class Echo:
    """One echo server and one sender for all examples, on a loop of their own."""

    def __init__(self, transport: str) -> None:
        self.lines: list[bytes] = []
        self.transport = transport
        self.loop = asyncio.new_event_loop()
        self.connections: set[asyncio.Task[None]] = set()
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._connected, "127.0.0.1", 0)
        )
        port = self.server.sockets[0].getsockname()[1]
        # The sender's own transport, and the alternative one (aiohttp's parser).
        factory = AiohttpTransport if transport == "aiohttp" else None
        self.sender = HttpxSender(f"http://127.0.0.1:{port}", transport_factory=factory)

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(self.loop.create_task(_echo(self.lines, reader, writer)))

    def request_line(self, request: RouteRequest) -> bytes:
        self.lines.clear()
        record = self.loop.run_until_complete(self.sender.send(request, user=0))
        assert record.ok, record
        assert len(self.lines) == 1
        return self.lines[0]

    def close(self) -> None:
        self.loop.run_until_complete(self.sender.aclose())
        # The client closed its connections: each handler sees the end and closes too.
        if self.connections:
            self.loop.run_until_complete(asyncio.wait(self.connections, timeout=10))
        self.server.close()
        self.loop.run_until_complete(self.server.wait_closed())
        self.loop.close()


@pytest.fixture(scope="module", params=["http1", "aiohttp"])
def echo(request: pytest.FixtureRequest) -> Iterator[Echo]:
    served = Echo(request.param)
    yield served
    served.close()


def _args(**given: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"method": None, "header": [], "body": None, "body_type": None}
    return argparse.Namespace(**(defaults | given))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=_target)
def test_a_typed_route_arrives_exactly_as_typed(echo: Echo, target: str) -> None:
    try:
        request = parse_route(f"GET {target}", _args())
    except UsageError as exc:
        # Only what an HTTP client cannot send as is (. and .. segments) is refused.
        assert "would go out as" in str(exc)
        reject()
    assert echo.request_line(request) == f"GET {_sent(echo, target)} HTTP/1.1".encode()


def _sent(echo: Echo, target: str) -> str:
    """What `target` goes out as: itself, but over aiohttp without a bare trailing "?"
    (yarl keeps no empty query)."""
    if echo.transport == "aiohttp" and "?" in target and not target.partition("?")[2]:
        return target[:-1]
    return target


@pytest.mark.parametrize(
    "target",
    [
        "/search?q=hello%20world",
        "/search?q=a+b",
        "/items?a=1&a=2",
        "/go?next=%2Fhome&flag",
        "/files/a%2Fb?",
        "/x?a=%zz&b=%2f",
    ],
)
def test_the_issues_queries_are_not_rewritten(echo: Echo, target: str) -> None:
    # --url takes the same path: the target is cut from the URL as written.
    url = f"http://127.0.0.1:1{target}#fragment"
    assert url_target(url) == target
    request = parse_route(f"POST {target}", _args(body="{}"))
    assert echo.request_line(request) == f"POST {_sent(echo, target)} HTTP/1.1".encode()


def test_a_route_built_from_pairs_still_encodes_them(echo: Echo) -> None:
    # The audit's requests come from the app's schema as pairs, not typed.
    request = RouteRequest(scenario="GET /s", path="/s", query=(("q", "a b"),))
    assert echo.request_line(request) == b"GET /s?q=a+b HTTP/1.1"


@given(target=_target)
def test_the_note_on_locusts_client_matches_what_it_sends(target: str) -> None:
    assert locust_target(target) == GeventURL("http://127.0.0.1:8000" + target).quoted_uri


def test_the_locustfile_sends_the_target_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "locustfile.py"
    target = "/go?next=%2Fhome&flag&a=1&a=2&q=a+b"
    assert (
        main(["export-locust", "--url", f"http://127.0.0.1:8000{target}", "--out", str(out)]) == 0
    )
    assert f"{target!r}" in out.read_text()
    assert "params=" not in out.read_text()
    assert "note" not in capsys.readouterr().err
    assert main(["export-locust", "--url", "http://127.0.0.1:8000/x?a=%41", "--out", str(out)]) == 0
    assert "sends this target as /x?a=A" in capsys.readouterr().err


async def test_locust_sends_the_exported_target_as_typed(tmp_path: Path) -> None:
    # The exported file, run by Locust itself against a raw server that keeps each line.
    lines: list[bytes] = []
    server = await asyncio.start_server(lambda r, w: _echo(lines, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = "/go?next=%2Fhome&flag&a=1&a=2&q=a+b&s=hello%20world&p=%2f"
    out = tmp_path / "locustfile.py"
    url = f"http://127.0.0.1:{port}{target}"
    assert main(["export-locust", "--url", url, "--concurrency", "1", "--out", str(out)]) == 0
    locust = Path(sys.executable).parent / "locust"
    process = await asyncio.create_subprocess_exec(
        *(str(locust), "-f", str(out), "--headless", "-u", "1", "-r", "1", "-t", "1s"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        await asyncio.wait_for(process.wait(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        server.close()
        await server.wait_closed()
    assert lines, "Locust sent nothing"
    assert set(lines) == {f"GET {target} HTTP/1.1".encode()}
