"""`Http1Transport`: the sender's own HTTP/1.1 client, one asyncio protocol per connection.

Why not aiohttp any more. On one connection a closed-loop user waits for the client's own
Python on every request, so the client's cost per request *is* the latency it adds. Side
by side against one `loopscope serve` process on the 0 ms route (2 cores, 2026-11-26):
wrk 3179 req/s, LoopScope through aiohttp 1222 (0.38 of wrk; ~400 µs of client CPU a
request, half of it in aiohttp's `ClientSession._request`, its response object, payload
stream and timers), a bare asyncio protocol on httptools 2870-3075 (0.90-1.00).

So this keeps only what a load test's request needs: the request's bytes built once from
the httpx.Request (method, target, headers and body exactly as httpx made them), a
keep-alive pool of connections, httptools' C parser (uvicorn's, already a dependency) on
the answer, and httpx's exceptions for every failure, so records and error kinds are the
same as with any httpx transport. Left out on purpose: redirects, cookies, decompression,
proxies, TLS (targets are http:// on loopback; anything else is refused before a run).
One request at a time per connection, never a resend: a dropped connection is one
`protocol` error, as with wrk.
"""

from __future__ import annotations

import asyncio
import time

import httptools
import httpx

from loopscope.embedded_server import REQUEST_ID_HEADER

from ._wire import WIRE_ID

# Idle keep-alive connections are dropped after this, before uvicorn drops them after its
# 5 s (timeout_keep_alive): a request then never goes out on a connection being closed.
KEEPALIVE_EXPIRY_S = 4.0

# Where a request's bytes are kept once built (in its own extensions: they live exactly
# as long as the request): (head without the blank line, body, the whole request as sent
# without a wire id, host, port).
_WIRE_BYTES = "loopscope.http1_bytes"
_ID_HEADER = REQUEST_ID_HEADER.encode("ascii")
_SERVER_TIMING = b"server-timing"
_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"


class _Failure(Exception):
    """A connection's failure, turned into httpx's exception where the request is known."""

    def __init__(self, kind: type[httpx.TransportError], message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request and its answer at a time.

    The answer resolves `_waiter`; everything the parser reports lands in attributes.
    The read timeout is lazy: each send only moves `_deadline`, and the one timer a
    connection has is re-armed when it fires early, so a request costs no timer handle
    (aiohttp made and cancelled one per request).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._keep_headers = False
        self._head_request = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.server_timing: str | None = None
        self.keep_alive = False
        self._headers_done = False
        self._delimited = False  # the answer says where its body ends (length or chunked)
        self._read_timeout: float | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # bytes nobody asked for: the connection cannot be trusted
            self._fail(_Failure(httpx.RemoteProtocolError, "unexpected data from the server"))
            return
        if self._read_timeout is not None:
            self._deadline = self._loop.time() + self._read_timeout
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(_Failure(httpx.RemoteProtocolError, f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._parser is None:
            return
        if self._headers_done and not self._delimited:
            # An answer without length or chunks ends where the connection does.
            self.keep_alive = False
            self._complete()
            return
        message = "the server closed the connection without a complete answer"
        kind = httpx.RemoteProtocolError if exc is None else httpx.ReadError
        self._fail(_Failure(kind, message if exc is None else f"{message}: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._keep_headers:
            self.headers.append((name, value))
        size = len(name)  # a length first: most headers are none of these
        if size == 13 and name.lower() == _SERVER_TIMING:
            self.server_timing = value.decode("latin-1")
        elif (size == 14 and name.lower() == _CONTENT_LENGTH) or (
            size == 17 and name.lower() == _TRANSFER_ENCODING
        ):
            self._delimited = True

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self.status = self._parser.get_status_code()
        self._headers_done = True
        if self._head_request:  # no body follows, whatever Content-Length says
            self.keep_alive = self._parser.should_keep_alive()
            self._complete()

    def on_body(self, body: bytes) -> None:
        if self._keep_headers:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self._parser is not None:
            self.keep_alive = self._parser.should_keep_alive()
            self._complete()

    # one exchange
    def send(
        self, data: bytes, *, head: bool, keep_all: bool, read_timeout: float | None
    ) -> asyncio.Future[None]:
        """Write one request; the returned future ends when its answer is complete."""
        assert self.transport is not None
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head
        self._keep_headers = keep_all
        if keep_all:
            self.headers = []
            self.body = []
        self.server_timing = None
        self._headers_done = False
        self._delimited = False
        self._read_timeout = read_timeout
        if read_timeout is not None:
            self._deadline = self._loop.time() + read_timeout
            if self._timer is None:
                self._timer = self._loop.call_at(self._deadline, self._check_deadline)
        self.transport.write(data)
        return waiter

    def _complete(self) -> None:
        self._parser = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, failure: _Failure) -> None:
        self._parser = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)
        self.abort()

    def _check_deadline(self) -> None:
        self._timer = None
        if self._parser is None:  # no request waits: re-armed by the next send
            return
        if self._loop.time() >= self._deadline:
            self._fail(_Failure(httpx.ReadTimeout, "no answer within the read timeout"))
        else:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def abort(self) -> None:
        """Close at once (a failure, a cancelled request, or the pool closing)."""
        self.closed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()


def _wire_bytes(request: httpx.Request, content: bytes) -> tuple[bytes, bytes]:
    """The request's head (without its blank line) and body, as httpx built them."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
        if name.lower() in (_TRANSFER_ENCODING, _CONTENT_LENGTH):
            continue  # the body is sent whole, with its length (below)
        lines.append(name + b": " + value)
    if content or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(b"content-length: %d" % len(content))
    return b"\r\n".join(lines) + b"\r\n", content


class Http1Transport(httpx.AsyncBaseTransport):
    """httpx's transport interface on asyncio protocols and httptools' C parser (module
    notes: why). `exchange` is the sender's fast path; `handle_async_request` serves any
    httpx.AsyncClient with the same connections.

    The pool has no limit: a closed-loop user has one request in flight, so it holds at
    most one connection. Idle connections expire before uvicorn's do.
    """

    def __init__(self, *, keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S) -> None:
        self._keepalive_expiry_s = keepalive_expiry_s
        # Idle connections per (host, port), most recently used last (taken first: warm).
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False

    async def _connection(
        self, host: str, port: int, connect_timeout: float | None, request: httpx.Request
    ) -> _Connection:
        idle = self._idle.get((host, port))
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if not conn.closed and now - conn.idle_since < self._keepalive_expiry_s:
                    return conn
                conn.abort()
        loop = asyncio.get_running_loop()
        conn = _Connection(loop)
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.create_connection(lambda: conn, host, port)
        except TimeoutError as exc:
            conn.abort()
            message = f"no connection within {connect_timeout} s"
            raise httpx.ConnectTimeout(message, request=request) from exc
        except OSError as exc:
            conn.abort()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return conn

    async def _round_trip(self, request: httpx.Request, *, keep_all: bool) -> _Connection:
        """Send `request` on a pooled connection and wait for its whole answer; returns the
        connection, whose attributes hold the answer until its next request."""
        if self._closed:
            raise httpx.TransportError("the transport is closed", request=request)
        wire = request.extensions.get(_WIRE_BYTES)
        if wire is None:
            url = request.url
            if url.scheme != "http" or not url.host:
                raise httpx.UnsupportedProtocol(
                    f"only http:// targets are sent to, not {url.scheme}://", request=request
                )
            try:
                content = request.content
            except httpx.RequestNotRead:
                content = await request.aread()
            head, body = _wire_bytes(request, content)
            wire = (head, body, head + b"\r\n" + body, url.host, url.port or 80)
            request.extensions[_WIRE_BYTES] = wire
        head, body, whole, host, port = wire
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        conn = await self._connection(host, port, timeouts.get("connect"), request)
        wire_id = WIRE_ID.get()
        if wire_id is None:
            data = whole
        else:  # the sender keeps this request's times (WireLog)
            data = b"%s%s: %d\r\n\r\n%s" % (head, _ID_HEADER, wire_id, body)
        self._busy.add(conn)
        try:
            await conn.send(
                data,
                head=request.method == "HEAD",
                keep_all=keep_all,
                read_timeout=timeouts.get("read"),
            )
        except _Failure as failure:
            raise failure.kind(str(failure), request=request) from None
        except BaseException:
            conn.abort()  # cancelled mid-answer: the connection cannot be reused
            raise
        finally:
            self._busy.discard(conn)
        if conn.keep_alive and not conn.closed and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.setdefault((host, port), []).append(conn)
        else:
            conn.abort()
        return conn

    async def exchange(self, request: httpx.Request) -> tuple[int, str | None]:
        """Send `request` and read its answer whole: (status, `Server-Timing` header).

        The sender's fast path: the request's bytes are built once and kept in the request;
        of the answer only the status and one header are kept. Failures raise the httpx
        exception httpx's own transport would.
        """
        conn = await self._round_trip(request, keep_all=False)
        return conn.status, conn.server_timing

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        conn = await self._round_trip(request, keep_all=True)
        return httpx.Response(
            status_code=conn.status,
            headers=conn.headers,
            content=b"".join(conn.body),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        busy, self._busy = self._busy, set()
        for conn in [*busy, *(c for conns in idle.values() for c in conns)]:
            conn.abort()
