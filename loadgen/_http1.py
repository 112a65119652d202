"""`Http1Transport`: the sender's own HTTP/1.1 client, one asyncio protocol per connection.

Why not aiohttp any more. On one connection a closed-loop user waits for the client's own
Python on every request, so the client's cost per request *is* the latency it adds. Side
by side against one `loopscope serve` process on the 0 ms route (2 cores):
wrk 3179 req/s, LoopScope through aiohttp 1222 (0.38 of wrk; ~400 µs of client CPU a
request, half of it in aiohttp's `ClientSession._request`, its response object, payload
stream and timers), a bare asyncio protocol on httptools 2870-3075 (0.90-1.00).

So this keeps only what a load test's request needs: the request's bytes built once from
the httpx.Request (method, target, headers and body exactly as httpx made them), a
keep-alive pool of connections, httptools' C parser (uvicorn's, already a dependency) on
the answer, and httpx's exceptions for every failure, so records and error kinds are the
same as with any httpx transport. Left out on purpose: redirects (the sender follows
them when asked), cookies, decompression, proxies.

Like a careful client (h11, httpcore, browsers): TLS with SNI and ALPN `http/1.1` for
https:// (`_tls.py`); 1xx interim answers skipped, the final answer follows on the same
connection; an idle connection expires before the server's `Keep-Alive: timeout=` says
it would close it; the head and body of an answer are limited in size (error kind
`oversized`). One request at a time per connection; a request is sent again only when
it failed on a *reused* connection before any byte of its answer came back and its
method is idempotent (the server closed the idle connection as the request went out:
the request never reached a handler), as browsers and httpcore do. Any other dropped
connection is one `protocol` error, as with wrk.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import httptools
import httpx

from loopscope.embedded_server import REQUEST_ID_HEADER

from ._tls import TlsError, client_ssl_context, tls_failure
from ._wire import WIRE_ID

# Idle keep-alive connections are dropped after this, before uvicorn drops them after its
# 5 s (timeout_keep_alive): a request then never goes out on a connection being closed.
KEEPALIVE_EXPIRY_S = 4.0
# A server that says `Keep-Alive: timeout=N` closes an idle connection after N s: ours
# expires this much earlier, so a request never races the server's close (its timer and
# our send are on two machines' clocks, and the answer's own time counts in N).
KEEPALIVE_MARGIN_S = 0.5
# The status line and headers of an answer, at most (uvicorn's h11 and h11 itself limit a
# head to 64 KiB): beyond it a server streams headers forever, and the client would grow
# without bound (an endless header grew a run to 768 MiB in 6 s).
MAX_HEAD_BYTES = 64 * 1024
# Header lines of an answer, at most (as many as httpcore's h11 or aiohttp would take is
# far beyond any real server's: 100 is Apache's and Go's order of magnitude).
MAX_HEADER_LINES = 100
# An answer's body, at most: a load test reads answers whole to count them, and none of a
# real API's answers is near this; past it the server is streaming, not answering.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Methods sent again once after a failure on a reused connection before any byte of the
# answer (RFC 9110 9.2.2: idempotent; POST and PATCH never are).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# Where a request's bytes are kept once built (in its own extensions: they live exactly
# as long as the request): (head without the blank line, body, the whole request as sent
# without a wire id, pool key (scheme, host, port), SSL context or None).
_WIRE_BYTES = "loopscope.http1_bytes"
_ID_HEADER = REQUEST_ID_HEADER.encode("ascii")
_SERVER_TIMING = b"server-timing"
_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"
_KEEP_ALIVE = b"keep-alive"
_LOCATION = b"location"

_PoolKey = tuple[str, str, int]


class OversizedAnswerError(httpx.RemoteProtocolError):
    """An answer's head or body was past the transport's limits: error kind `oversized`."""


class _Failure(Exception):
    """A connection's failure, turned into httpx's exception where the request is known.

    retryable: the connection was lost before any byte of the answer came back.
    """

    def __init__(
        self, kind: type[httpx.TransportError], message: str, *, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request and its answer at a time.

    The answer resolves `_waiter`; everything the parser reports lands in attributes.
    The read timeout is lazy: each send only moves `_deadline`, and the one timer a
    connection has is re-armed when it fires early, so a request costs no timer handle
    (aiohttp made and cancelled one per request).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        expiry_s: float,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # 0.0 until the connection first goes back to the pool: a reused one has a time.
        self.idle_since = 0.0
        # How long it may stay idle: the transport's expiry, or less if the server says.
        self.expiry_s = expiry_s
        self._max_body_bytes = max_body_bytes
        self._waiter: asyncio.Future[None] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._keep_headers = False
        self._head_request = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.server_timing: str | None = None
        self.location: bytes | None = None
        self.keep_alive = False
        self._headers_done = False
        self._delimited = False  # the answer says where its body ends (length or chunked)
        self._interim = False  # the head just read is a 1xx: the final answer follows
        # Bytes of the answer so far, its header lines and body bytes (the limits).
        self._received = 0
        self._head_bytes = 0
        self._header_lines = 0
        self._body_bytes = 0
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
        self._received += len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Failure):  # a limit, raised by a callback below
                self._fail(cause)
            else:
                self._fail(_Failure(httpx.RemoteProtocolError, f"malformed answer: {exc}"))
            return
        if not self._headers_done and self._received > MAX_HEAD_BYTES and self._parser is not None:
            # The parser holds an unfinished header line itself: counted here, by bytes.
            self._fail(_oversized(f"no end of the answer's head in {MAX_HEAD_BYTES:,} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._parser is None:
            return
        if self._headers_done and not self._delimited and not self._interim:
            # An answer without length or chunks ends where the connection does.
            self.keep_alive = False
            self._complete()
            return
        message = "the server closed the connection without a complete answer"
        kind = httpx.RemoteProtocolError if exc is None else httpx.ReadError
        self._fail(
            _Failure(
                kind,
                message if exc is None else f"{message}: {exc}",
                retryable=self._received == 0,
            )
        )

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._keep_headers:
            self.headers.append((name, value))
        self._header_lines += 1
        size = len(name)  # a length first: most headers are none of these below
        self._head_bytes += size + len(value)
        if size == 13 and name.lower() == _SERVER_TIMING:
            self.server_timing = value.decode("latin-1")
        elif (size == 14 and name.lower() == _CONTENT_LENGTH) or (
            size == 17 and name.lower() == _TRANSFER_ENCODING
        ):
            self._delimited = True
        elif size == 8 and name.lower() == _LOCATION:
            self.location = value
        elif size == 10 and name.lower() == _KEEP_ALIVE:
            self._server_keep_alive(value)

    def _server_keep_alive(self, value: bytes) -> None:
        """`Keep-Alive: timeout=N, max=M`: expire before the server closes (N s idle)."""
        for part in value.split(b","):
            key, _, number = part.strip().partition(b"=")
            if key.strip().lower() == b"timeout":
                try:
                    timeout = float(number.strip().strip(b'"'))
                except ValueError:
                    return  # not a number: keep the transport's own expiry
                if timeout == timeout:  # not NaN
                    self.expiry_s = min(self.expiry_s, max(0.0, timeout - KEEPALIVE_MARGIN_S))
                return

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        if self._header_lines > MAX_HEADER_LINES:
            raise _oversized(f"more than {MAX_HEADER_LINES} header lines in the answer")
        if self._head_bytes > MAX_HEAD_BYTES:  # a head that came whole in one read
            raise _oversized(f"an answer's head past {MAX_HEAD_BYTES:,} bytes")
        status = self._parser.get_status_code()
        self.status = status
        if 100 <= status < 200 and status != 101:
            # 100 Continue, 103 Early Hints...: not the answer (RFC 9110 15.2); httptools
            # completes it as a message of its own, and the final answer follows.
            self._interim = True
            return
        self._headers_done = True
        if self._head_request:  # no body follows, whatever Content-Length says
            self.keep_alive = self._parser.should_keep_alive()
            self._complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body_bytes:
            raise _oversized(f"an answer's body past {self._max_body_bytes:,} bytes")
        if self._keep_headers:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            # Its headers are not the final answer's (the limits still count them all).
            self._interim = False
            self._delimited = False
            self.server_timing = None
            self.location = None
            if self._keep_headers:
                self.headers = []
            return
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
        self.location = None
        self._headers_done = False
        self._delimited = False
        self._interim = False
        self._received = 0
        self._head_bytes = 0
        self._header_lines = 0
        self._body_bytes = 0
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


def _oversized(message: str) -> _Failure:
    return _Failure(OversizedAnswerError, message)


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
    most one connection. Idle connections expire before uvicorn's do (or before the
    server's `Keep-Alive: timeout=`).

    ssl_context: for https:// targets (`_tls.client_ssl_context`); None: the system's CA
    store, made at the first https request. max_body_bytes: the largest body read.
    `last_location`: the Location of the last 3xx answer (read it right after `exchange`).
    """

    def __init__(
        self,
        *,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._keepalive_expiry_s = keepalive_expiry_s
        self._ssl_context = ssl_context
        self._max_body_bytes = max_body_bytes
        # Idle connections per (scheme, host, port), most recently used last (taken first).
        self._idle: dict[_PoolKey, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False
        self.last_location: str | None = None

    def _idle_connection(self, key: _PoolKey) -> _Connection | None:
        """The most recently used idle connection to `key` still fit to reuse (those past
        their expiry are closed on the way), or None."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < conn.expiry_s:
                return conn
            conn.abort()
        return None

    async def _connect(
        self,
        key: _PoolKey,
        context: ssl.SSLContext | None,
        connect_timeout: float | None,
        request: httpx.Request,
    ) -> _Connection:
        """A new connection (TLS when `context`: SNI and the certificate's name are the
        URL's host)."""
        _, host, port = key
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self._keepalive_expiry_s, self._max_body_bytes)
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.create_connection(
                    lambda: conn,
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError as exc:
            conn.abort()
            message = f"no connection within {connect_timeout} s"
            raise httpx.ConnectTimeout(message, request=request) from exc
        except ssl.SSLError as exc:  # before OSError: an SSLError is one
            conn.abort()
            raise TlsError(tls_failure(exc), request=request) from exc
        except OSError as exc:
            conn.abort()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return conn

    async def _wire(
        self, request: httpx.Request
    ) -> tuple[bytes, bytes, bytes, _PoolKey, ssl.SSLContext | None]:
        """The request's bytes, pool key and SSL context, built once (kept in the request)."""
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise httpx.UnsupportedProtocol(
                f"only http:// and https:// targets are sent to, not {url.scheme}://",
                request=request,
            )
        context: ssl.SSLContext | None = None
        if url.scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = client_ssl_context()
            context = self._ssl_context
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = await request.aread()
        head, body = _wire_bytes(request, content)
        port = url.port or (443 if context is not None else 80)
        wire = (head, body, head + b"\r\n" + body, (url.scheme, url.host, port), context)
        request.extensions[_WIRE_BYTES] = wire
        return wire

    async def _round_trip(self, request: httpx.Request, *, keep_all: bool) -> _Connection:
        """Send `request` on a pooled connection and wait for its whole answer; returns the
        connection, whose attributes hold the answer until its next request."""
        if self._closed:
            raise httpx.TransportError("the transport is closed", request=request)
        wire = request.extensions.get(_WIRE_BYTES)
        if wire is None:
            wire = await self._wire(request)
        head, body, whole, key, context = wire
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        conn = self._idle_connection(key) or await self._connect(
            key, context, timeouts.get("connect"), request
        )
        wire_id = WIRE_ID.get()
        if wire_id is None:
            data = whole
        else:  # the sender keeps this request's times (WireLog)
            data = b"%s%s: %d\r\n\r\n%s" % (head, _ID_HEADER, wire_id, body)
        read_timeout = timeouts.get("read")
        self._busy.add(conn)
        try:
            await conn.send(
                data, head=request.method == "HEAD", keep_all=keep_all, read_timeout=read_timeout
            )
        except _Failure as failure:
            self._busy.discard(conn)
            if not (failure.retryable and conn.idle_since and request.method in IDEMPOTENT_METHODS):
                raise failure.kind(str(failure), request=request) from None
            conn = await self._resend(key, context, data, request, keep_all, timeouts)
        except BaseException:
            conn.abort()  # cancelled mid-answer: the connection cannot be reused
            raise
        finally:
            self._busy.discard(conn)
        if conn.keep_alive and not conn.closed and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(key, []).append(conn)
        else:
            conn.abort()
        if 300 <= conn.status < 400:
            location = conn.location
            self.last_location = None if location is None else location.decode("latin-1")
        return conn

    async def _resend(
        self,
        key: _PoolKey,
        context: ssl.SSLContext | None,
        data: bytes,
        request: httpx.Request,
        keep_all: bool,
        timeouts: dict[str, float | None],
    ) -> _Connection:
        """Once more on a new connection: the server closed the idle one as the request
        went out, so no byte came back and no handler ran it (module notes)."""
        conn = await self._connect(key, context, timeouts.get("connect"), request)
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
            conn.abort()
            raise
        finally:
            self._busy.discard(conn)
        return conn

    async def exchange(self, request: httpx.Request) -> tuple[int, str | None]:
        """Send `request` and read its answer whole: (status, `Server-Timing` header).

        The sender's fast path: the request's bytes are built once and kept in the request;
        of the answer only the status and one header are kept (and a 3xx's Location, in
        `last_location`). Failures raise the httpx exception httpx's own transport would.
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
