"""What the generator records for each request, and what a route is asked to do."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DELAY_SCENARIOS,
    FANOUT_SCENARIOS,
    SCENARIOS,
)

# Error kinds, counted apart in every summary.
ERROR_HTTP_4XX = "http_4xx"
ERROR_HTTP_5XX = "http_5xx"
ERROR_TIMEOUT = "timeout"
ERROR_CONNECT = "connect"
ERROR_PROTOCOL = "protocol"
ERROR_OTHER = "other"
# A 3xx answer: not the resource asked for (followed only when asked: --follow-redirects).
ERROR_REDIRECT = "redirect"
# The TLS handshake failed: the certificate, its name, or the protocol.
ERROR_TLS = "tls"
# An answer past the transport's limits on its head or body (loadgen/_http1.py).
ERROR_OVERSIZED = "oversized"
# In flight when the load ended and still unanswered after the drain: cut off, not dropped.
ERROR_ABANDONED = "abandoned"


@dataclass(frozen=True, kw_only=True, slots=True)
class ScenarioRequest:
    """One scenario and its parameters: the request every user of a generator repeats."""

    scenario: str
    delay_ms: float = 200.0
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}"
            )

    @property
    def path(self) -> str:
        return f"/scenario/{self.scenario}"

    @property
    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.scenario in DELAY_SCENARIOS:
            params["delay_ms"] = f"{self.delay_ms:g}"
        if self.scenario in CPU_SCENARIOS:
            params["iterations"] = str(self.iterations)
        if self.scenario in FANOUT_SCENARIOS:
            params["fanout"] = str(self.fanout)
        return params

    def with_delay(self, delay_ms: float) -> ScenarioRequest:
        return replace(self, delay_ms=delay_ms)


# What a route of the user's own may be sent with (the window and `--method` offer these), and
# the bound on a body typed there or given with `--body`.
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_ROUTE_BODY_BYTES = 1_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteRequest:
    """Any request to a user's app: its method, path, query, headers and body.

    `scenario` is the label its records and series carry ("GET /items"): the recorder,
    the summaries and the charts key everything by it, as they do a demo scenario.
    `target`, when given, is the path and query exactly as the user typed them: it goes on
    the wire byte for byte (`path` and `query` then only describe it); without it the
    query is encoded from the pairs.
    """

    scenario: str
    path: str
    method: str = "GET"
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"a route's path starts with /, got {self.path!r}")
        if self.target is not None and not self.target.startswith(self.path):
            raise ValueError(f"a route's target {self.target!r} has another path")

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


# What a generator can repeat: a demo scenario or any route of a user's app.
AnyRequest = ScenarioRequest | RouteRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One request as the client saw it. Times are `time.perf_counter()` seconds.

    `intended_start` is when the request should have started (open loop); for a closed
    loop it equals `start`. Latency counts from `intended_start`.
    """

    scenario: str
    start: float
    end: float
    intended_start: float | None = None
    status: int | None = None
    error: str | None = None
    server_wait_s: float | None = None
    server_work_s: float | None = None
    user: int = field(default=0)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def latency_s(self) -> float:
        begin = self.start if self.intended_start is None else self.intended_start
        return self.end - begin
