"""The seam between the generator and the network: send one request, return one record.

Requests are built by httpx (URL, query, headers, body, timeouts) and failures are httpx's
exceptions; the bytes go over `Http1Transport` (loadgen/_http1.py), LoopScope's own
HTTP/1.1 client on asyncio protocols and httptools' C parser. How the transport was chosen,
measured on the 2-core machine against one separate `loopscope serve` process, closed loop
through LoadGenerator + Recorder (`bench/sender_matrix.py`, `bench/generator_vs_wrk.py`):

                                            client CPU   req/s, 0 ms route   req/s, 50 ms route
                                            per request  50 and 100 users    400 users
                                            (median)     (server-bound)      (theory 8000)
httpx default transport, 1 client/10 users  950 µs        890-1230            640-950
httpx default transport, 1 client/user      790 µs       1360-1530            880-1120
httpx + PyPI `httpx-aiohttp` 0.2.0          390 µs       2270-3820           1760-1770
httpx + AiohttpTransport below              310 µs       3120-4200           2330-2790
wrk, one thread (reference)                  30 µs       3090-3860           2410-2440

httpcore's pool scans every connection on every request (encode/httpcore#1035), and
creating a client costs ~29 ms (its SSL context). aiohttp hands out pooled connections in
O(1), but on one connection, where a user waits for the client's own Python on every
request, it still reached only 0.38 of wrk (`Http1Transport`'s notes): hence a client of
our own, which keeps only what a load test's fixed request needs. `AiohttpTransport`
stays as the measured alternative (`transport_factory=AiohttpTransport`).

The fast path (`exchange`): the answer is not wrapped in an httpx.Response and
`AsyncClient.send`'s per-request machinery (auth, redirects, event hooks, the cookie jar)
is skipped: none of it applies to a load test's fixed request. That response was a
reference cycle, ~16 objects a request for the cyclic collector to find, which stopped
the shared loop for 30-200 ms at a time at 1000 users. Cookies are therefore not carried
from one answer to the next request, as with wrk: every virtual user's request is the
same, stateless one (give one with --header "Cookie: ..." when a route needs it).
"""

from __future__ import annotations

import functools
import math
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import httpx

from loopscope.embedded_server import REQUEST_ID_HEADER

from ._compat import check_aiohttp, switch_off_resend
from ._http1 import KEEPALIVE_EXPIRY_S, Http1Transport, OversizedAnswerError
from ._records import (
    ERROR_CONNECT,
    ERROR_HTTP_4XX,
    ERROR_HTTP_5XX,
    ERROR_OTHER,
    ERROR_OVERSIZED,
    ERROR_PROTOCOL,
    ERROR_REDIRECT,
    ERROR_TIMEOUT,
    ERROR_TLS,
    AnyRequest,
    RequestRecord,
    RouteRequest,
)
from ._tls import TlsError
from ._wire import WIRE_ID, WireLog

if TYPE_CHECKING:
    # Imported where used: 0.2 s of every command's start-up, for a transport that is no
    # longer the default.
    import aiohttp
    import yarl

# Built requests kept per sender: one per scenario request in use (the delay slider
# makes new ones); past this many the cache starts over.
_MAX_BUILT_REQUESTS = 64
# Redirects followed for one request at most (--follow-redirects), as httpx's default 20
# is for a browser's worth of hops: a load test's route redirects once or twice.
MAX_REDIRECTS = 5


class RequestSender(Protocol):
    """Sends one request and returns its record; network failures are records, not raised."""

    async def send(self, request: AnyRequest, *, user: int) -> RequestRecord: ...

    async def aclose(self) -> None: ...


# Where `AiohttpTransport.exchange` keeps a request's URL, headers and body as aiohttp takes
# them (in the request's own extensions: they live exactly as long as the request).
_WIRE_FORM = "loopscope.wire_form"

# Makes the httpx transport of each client an `HttpxSender` opens.
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


def parse_server_timing(header: str | None) -> tuple[float | None, float | None]:
    """(wait, work) in seconds from a `Server-Timing` header, None where absent."""
    if not header:
        return None, None
    found: dict[str, float] = {}
    for metric in header.split(","):
        parts = [part.strip() for part in metric.split(";")]
        for part in parts[1:]:
            if part.startswith("dur="):
                try:
                    found[parts[0]] = float(part[4:]) / 1000
                except ValueError:
                    pass
    return found.get("wait"), found.get("work")


def classify_status(status: int) -> str | None:
    """The error kind of a final answer's status: `http_5xx`, `http_4xx`, `redirect`
    (3xx), `protocol` (a final 1xx: 101 Switching Protocols, never asked for), or None
    for a success (2xx)."""
    if status >= 500:
        return ERROR_HTTP_5XX
    if status >= 400:
        return ERROR_HTTP_4XX
    if status >= 300:
        return ERROR_REDIRECT
    if status >= 200:
        return None
    return ERROR_PROTOCOL


def classify_error(exc: Exception) -> str:
    """The error kind of an httpx exception raised instead of a response."""
    if isinstance(exc, httpx.TimeoutException):
        return ERROR_TIMEOUT
    if isinstance(exc, TlsError):
        return ERROR_TLS
    if isinstance(exc, OversizedAnswerError):
        return ERROR_OVERSIZED
    if isinstance(exc, httpx.ConnectError):
        return ERROR_CONNECT
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ERROR_PROTOCOL
    return ERROR_OTHER


def record_from_response(
    request: AnyRequest, response: httpx.Response, start: float, end: float, user: int
) -> RequestRecord:
    """The record of a response read whole between `start` and `end` (perf_counter s)."""
    return record_from_answer(
        request, response.status_code, response.headers.get("server-timing"), start, end, user
    )


def record_from_answer(
    request: AnyRequest,
    status: int,
    server_timing: str | None,
    start: float,
    end: float,
    user: int,
) -> RequestRecord:
    """The record of an answer (status and `Server-Timing` header) read whole between
    `start` and `end` (perf_counter s).

    Positional on purpose: `HttpxSender` calls this once per request.
    """
    wait, work = parse_server_timing(server_timing)
    return RequestRecord(
        scenario=request.scenario,
        start=start,
        end=end,
        status=status,
        # A success skips the call: this runs once per request.
        error=None if 200 <= status < 300 else classify_status(status),
        server_wait_s=wait,
        server_work_s=work,
        user=user,
    )


def record_from_error(
    request: AnyRequest, exc: Exception, start: float, end: float, user: int
) -> RequestRecord:
    """The record of a request that raised `exc` (an httpx exception) instead of answering."""
    return RequestRecord(
        scenario=request.scenario, start=start, end=end, error=classify_error(exc), user=user
    )


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception httpx's own transport would raise for an aiohttp failure."""
    import aiohttp

    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, TimeoutError):  # aiohttp's socket-read timeout and the like
        return httpx.ReadTimeout(message, request=request)
    protocol = (
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError
    )
    if isinstance(exc, protocol):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    return httpx.TransportError(message, request=request)


def _aiohttp_url(request: httpx.Request) -> yarl.URL:
    """The request's URL as httpx built it, taken as already encoded: from a string, aiohttp
    would re-quote it (%2F -> /, %41 -> A). One difference stays: yarl keeps no empty
    query, so a target ending in a bare "?" goes out without it."""
    import yarl

    return yarl.URL(str(request.url), encoded=True)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface on aiohttp's connection pool and C HTTP/1.1 parser: the
    sender's transport until `Http1Transport` (module notes), kept as the alternative.

    Requests, responses, timeouts and exceptions stay httpx's; only the bytes on the wire
    go through aiohttp. Bodies are read whole (the demo routes answer a few hundred bytes).
    Cookies, redirects and content decoding are left to httpx. The aiohttp session is
    made on first use, on the running loop.

    Idle keep-alive connections expire before uvicorn's do, so a request is never sent on
    a connection the server is closing; aiohttp's automatic resend is switched off.
    """

    def __init__(
        self,
        *,
        max_connections: int | None = None,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
    ) -> None:
        check_aiohttp()  # before any request: a silent resend would falsify every figure
        self._max_connections = max_connections
        self._keepalive_expiry_s = keepalive_expiry_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        # The Location of the last 3xx answer `exchange` read (as Http1Transport's).
        self.last_location: str | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections or 0,  # 0: no limit
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry_s,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
            )
            # One request, one attempt, as with httpx's own transport and wrk: aiohttp would
            # otherwise resend a GET once when the server drops its connection, turning a
            # failure the class should see into a slow success. No public switch exists
            # (aio-libs/aiohttp#10790): _compat.py sets aiohttp's private one, which
            # check_aiohttp() (in __init__) made sure this aiohttp still reads.
            switch_off_resend(session)
            self._session = session
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        import aiohttp

        spec = request.extensions.get("timeout", {})
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            timeout = aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 16:
                self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        session = self._get_session()
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = await request.aread()
        headers = request.headers.multi_items()  # a new list: one more header costs nothing
        wire_id = WIRE_ID.get()
        if wire_id is not None:  # the sender keeps this request's times (WireLog)
            headers.append((REQUEST_ID_HEADER, str(wire_id)))
        try:
            async with session.request(
                request.method,
                _aiohttp_url(request),
                headers=headers,
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request),
            ) as response:
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise httpx_error(exc, request) from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            content=body,
            extensions=extensions,
        )

    async def exchange(self, request: httpx.Request) -> tuple[int, str | None]:
        """Send `request` and read its answer whole: (status, `Server-Timing` header).

        The sender's fast path, for a request built once and sent many times: no
        httpx.Response is made (with its stream, decoder and headers it is a reference
        cycle, so every request left ~16 objects for the cyclic garbage collector, which
        then stops the shared loop to find them), and the request's URL, headers and body
        are converted for aiohttp once, not on every send. Failures raise the httpx
        exception `handle_async_request` would.
        """
        import aiohttp

        session = self._get_session()
        wire = request.extensions.get(_WIRE_FORM)
        if wire is None:
            try:
                content = request.content
            except httpx.RequestNotRead:
                content = await request.aread()
            wire = (_aiohttp_url(request), request.headers.multi_items(), content or None)
            request.extensions[_WIRE_FORM] = wire
        url, headers, data = wire
        wire_id = WIRE_ID.get()
        if wire_id is not None:  # the sender keeps this request's times (WireLog)
            headers = [*headers, (REQUEST_ID_HEADER, str(wire_id))]
        try:
            async with session.request(
                request.method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout(request),
            ) as response:
                await response.read()
                if 300 <= response.status < 400:
                    self.last_location = response.headers.get("location")
                return response.status, response.headers.get("server-timing")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise httpx_error(exc, request) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class HttpxSender:
    """Sends scenario requests with httpx, over `Http1Transport` (module notes: why).

    users_per_client: users per `httpx.AsyncClient`; None (the default) shares one client
    among all users, each user holding its own keep-alive connection from its pool (a
    closed-loop user has one request in flight at a time, so no request ever waits for
    a connection).
    timeout_s: httpx's connect, read, write and pool timeout for every request.
    transport_factory: makes each client's transport; None (the default) is
    `Http1Transport()`. The seam for comparing transports (`bench/sender_matrix.py`
    passes httpx's own or another package's); the requests, the records and their error
    kinds stay this sender's, so what differs is only the transport.
    wire: where the sender writes each request's send and receive times, under the id
    the transport sends in the `x-loopscope-req` header (the embedded server keeps
    it, and the timeline draws the time on the wire from both); None (the default): no
    id, no header. Only the two transports with a fast path (`Http1Transport`,
    `AiohttpTransport`) send the id: another one's requests have no wire stretch.
    ssl_context: the TLS context of https:// targets (`client_ssl_context`: --ca-cert,
    --insecure); None: the system's CA store. Used by the default transport only.
    follow_redirects: a 3xx answer's Location on the same server (scheme, host and port)
    is asked for in turn, up to MAX_REDIRECTS, and the request's record is its final
    answer's, its latency the whole chain's; False (the default): a 3xx is a `redirect`
    error. `first_redirect` keeps the first 3xx seen and its Location, `error_examples`
    the first message of each error kind (the report names the failure with them).
    """

    def __init__(
        self,
        base_url: str,
        *,
        users_per_client: int | None = None,
        timeout_s: float = 60.0,
        transport_factory: TransportFactory | None = None,
        wire: WireLog | None = None,
        ssl_context: ssl.SSLContext | None = None,
        follow_redirects: bool = False,
    ) -> None:
        if users_per_client is not None and users_per_client < 1:
            raise ValueError(f"users_per_client must be at least 1, got {users_per_client}")
        self._base_url = base_url.rstrip("/")
        self._users_per_client = users_per_client
        self._timeout = httpx.Timeout(timeout_s)
        if transport_factory is None:
            transport_factory = functools.partial(Http1Transport, ssl_context=ssl_context)
        self._transport_factory: TransportFactory = transport_factory
        self._clients: dict[int, httpx.AsyncClient] = {}
        # Each client's transport when it has the fast path (`exchange`).
        self._exchanges: dict[int, Http1Transport | AiohttpTransport] = {}
        self._built: dict[tuple[int, AnyRequest], httpx.Request] = {}
        self._redirects: dict[tuple[httpx.Request, str, str], httpx.Request] = {}
        self._follow_redirects = follow_redirects
        self._wire = wire
        self._closed = False
        self.first_redirect: tuple[int, str | None] | None = None
        self._error_examples: dict[str, str] = {}

    @property
    def error_examples(self) -> dict[str, str]:
        """The first message of each error kind seen ("tls": "TLS hostname mismatch: ...")."""
        return dict(self._error_examples)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def _client_for(self, group: int) -> httpx.AsyncClient:
        client = self._clients.get(group)
        if client is None:
            transport = self._transport_factory()
            client = httpx.AsyncClient(
                base_url=self._base_url,
                transport=transport,
                timeout=self._timeout,
                trust_env=False,
            )
            self._clients[group] = client
            if isinstance(transport, Http1Transport | AiohttpTransport):
                self._exchanges[group] = transport
        return client

    def _built_request(
        self, group: int, client: httpx.AsyncClient, request: AnyRequest
    ) -> httpx.Request:
        # The same request every time: build it once. Sending does not change an
        # httpx.Request (a body given as bytes is not consumed, no auth, no redirects), so
        # users may share one.
        key = (group, request)
        built = self._built.get(key)
        if built is None:
            if len(self._built) >= _MAX_BUILT_REQUESTS:
                self._built.clear()
            if isinstance(request, RouteRequest):
                # A typed target goes out as its raw path: httpx would re-encode the query
                # (loadgen/_target.py checked that it goes out unchanged).
                target = request.target
                raw = None if target is None else target.encode("ascii")
                built = client.build_request(
                    request.method,
                    request.path if raw is None else client.base_url.copy_with(raw_path=raw),
                    params=request.params if raw is None else None,
                    headers=list(request.headers),
                    content=request.body,
                )
            else:
                built = client.build_request("GET", request.path, params=request.params)
            self._built[key] = built
        return built

    async def send(self, request: AnyRequest, *, user: int) -> RequestRecord:
        if self._closed:
            # A send after aclose() (a task that outlived its generator) must not open a
            # new client that nobody would close: it is recorded as a failed request.
            now = time.perf_counter()
            return RequestRecord(
                scenario=request.scenario, start=now, end=now, error=ERROR_OTHER, user=user
            )
        group = 0 if self._users_per_client is None else user // self._users_per_client
        client = self._client_for(group)
        built = self._built_request(group, client, request)
        transport = self._exchanges.get(group)
        wire = self._wire
        start = time.perf_counter()
        if wire is not None:
            # The request's send and receive times are also the wire log's: the timeline's
            # lane of a request spans exactly the latency the charts count.
            wire_id = wire.sent(start)
            token = WIRE_ID.set(wire_id)
        end = math.nan
        answered = 0  # the final answer's status, for the wire log (0: none)
        try:
            if transport is not None:
                # The fast path: httpx's request, timeouts and exceptions, without its
                # per-request client machinery (module notes).
                status, server_timing = await transport.exchange(built)
                if 300 <= status < 400:  # read at once: the next answer overwrites it
                    location = transport.last_location
            else:
                response = await client.send(built)
                status, server_timing = response.status_code, response.headers.get("server-timing")
                location = response.headers.get("location")
            if 300 <= status < 400:
                status, server_timing = await self._redirected(
                    group, client, built, status, location
                ) or (status, server_timing)
            end = time.perf_counter()
            answered = status
        except httpx.HTTPError as exc:
            end = time.perf_counter()
            record = record_from_error(request, exc, start, end, user)
            if record.error not in self._error_examples:
                self._error_examples[record.error or ERROR_OTHER] = str(exc) or type(exc).__name__
            return record
        finally:
            if wire is not None:
                WIRE_ID.reset(token)
                # Cancelled (a Stop): the client stops waiting now; its lane must not run on.
                wire.received(wire_id, end if end == end else time.perf_counter(), answered)
        return record_from_answer(request, status, server_timing, start, end, user)

    async def _redirected(
        self,
        group: int,
        client: httpx.AsyncClient,
        built: httpx.Request,
        status: int,
        location: str | None,
    ) -> tuple[int, str | None] | None:
        """A 3xx answer: kept (the first one), and followed when asked. Returns the final
        answer's (status, Server-Timing), or None to keep the 3xx (not followed, or a
        Location elsewhere: a load is never carried to another server)."""
        if self.first_redirect is None:
            self.first_redirect = (status, location)
        if not self._follow_redirects:
            return None
        answer: tuple[int, str | None] | None = None
        current = built
        for _ in range(MAX_REDIRECTS):
            if location is None:
                return answer
            try:
                url = current.url.join(location)
            except httpx.InvalidURL:
                return answer
            if (url.scheme, url.host, url.port) != (
                built.url.scheme,
                built.url.host,
                built.url.port,
            ):
                return answer
            current = self._redirect_request(client, current, status, url)
            transport = self._exchanges.get(group)
            if transport is not None:
                answer = await transport.exchange(current)
                location = transport.last_location if 300 <= answer[0] < 400 else None
            else:
                response = await client.send(current)
                answer = response.status_code, response.headers.get("server-timing")
                location = response.headers.get("location")
            status = answer[0]
            if not 300 <= status < 400:
                return answer
        return answer

    def _redirect_request(
        self,
        client: httpx.AsyncClient,
        previous: httpx.Request,
        status: int,
        url: httpx.URL,
    ) -> httpx.Request:
        """The request a redirect asks for, built once: 303 (and 301/302 after a POST, as
        browsers and httpx do) turns it into a GET without a body; 307/308 keep it."""
        method = previous.method
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
        key = (previous, method, str(url))  # the request itself: its headers and body
        request = self._redirects.get(key)
        if request is None:
            if len(self._redirects) >= _MAX_BUILT_REQUESTS:
                self._redirects.clear()
            keep_body = method == previous.method
            headers = [
                (name, value)
                for name, value in previous.headers.multi_items()
                if keep_body or name.lower() not in ("content-length", "content-type")
            ]
            request = client.build_request(
                method, url, headers=headers, content=previous.content if keep_body else None
            )
            self._redirects[key] = request
        return request

    async def aclose(self) -> None:
        self._closed = True
        clients, self._clients = self._clients, {}
        self._exchanges.clear()
        self._built.clear()
        self._redirects.clear()
        for client in clients.values():
            await client.aclose()
