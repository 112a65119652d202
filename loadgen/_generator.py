"""`LoadGenerator`: a closed loop of users whose number changes live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._records import ERROR_CONNECT, RequestRecord, ScenarioRequest
from ._sender import RequestSender

RecordSink = Callable[[RequestRecord], None]

MAX_USERS = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class GeneratorLimits:
    """Bounds on every load loop, whatever the caller asks.

    max_users: the concurrency slider's top.
    max_requests: requests sent over the generator's life.
    max_duration_s: seconds from `start()` after which users stop on their own.
    """

    max_users: int = MAX_USERS
    max_requests: int = 50_000_000
    max_duration_s: float = 4 * 3600.0


class LoadGenerator:
    """Closed-loop load: each user sends a request, waits for the answer, and repeats.

    `set_concurrency` adds users at once; removed users finish their request first.
    Records go to `sink` as each response completes. Every user task is owned here and
    ended by `stop()`.
    """

    # A user whose request cannot even connect waits this long before trying again,
    # so a dead server does not turn the generator into a busy loop.
    _CONNECT_ERROR_BACKOFF_S = 0.05

    def __init__(
        self,
        sender: RequestSender,
        sink: RecordSink,
        request: ScenarioRequest,
        *,
        limits: GeneratorLimits | None = None,
        ramp_s: float = 0.0,
    ) -> None:
        self._sender = sender
        # New users start spread over ramp_s instead of all at once: users started together
        # stay in lock-step (all answered at once, every delay), and counts per window then
        # jump by a whole batch depending on where the window edges fall.
        self._ramp_s = ramp_s
        self._sink = sink
        self._request = request
        self._limits = limits or GeneratorLimits()
        self._target = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._in_flight = 0
        self._sent = 0
        self._running = False
        self._deadline = 0.0

    @property
    def request(self) -> ScenarioRequest:
        return self._request

    @property
    def scenario(self) -> str:
        return self._request.scenario

    @property
    def running(self) -> bool:
        return self._running

    @property
    def concurrency(self) -> int:
        """Users asked for."""
        return self._target

    @property
    def active_users(self) -> int:
        """User tasks alive, including removed ones still finishing a request."""
        return sum(1 for task in self._tasks.values() if not task.done())

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return self._in_flight

    @property
    def sent(self) -> int:
        return self._sent

    def set_request(self, request: ScenarioRequest) -> None:
        """Change what users ask for (e.g. the delay slider); applies to their next request."""
        if request.scenario != self._request.scenario:
            raise ValueError("a generator keeps its scenario; make another generator instead")
        self._request = request

    def start(self, concurrency: int) -> None:
        if self._running:
            raise RuntimeError("the generator is already running")
        self._running = True
        self._deadline = time.perf_counter() + self._limits.max_duration_s
        self.set_concurrency(concurrency)

    def set_concurrency(self, users: int) -> None:
        if not 0 <= users <= self._limits.max_users:
            raise ValueError(f"users must be between 0 and {self._limits.max_users}, got {users}")
        self._target = users
        if not self._running:
            return
        loop = asyncio.get_running_loop()
        for index in range(users):
            task = self._tasks.get(index)
            if task is None or task.done():
                self._tasks[index] = loop.create_task(
                    self._user(index), name=f"loopscope-user-{self.scenario}-{index}"
                )

    async def _user(self, index: int) -> None:
        if self._ramp_s > 0:
            # Golden-ratio spread: evenly covers the ramp for any number of users.
            await asyncio.sleep(self._ramp_s * ((index * 0.6180339887) % 1.0))
        while (
            self._running
            and index < self._target
            and self._sent < self._limits.max_requests
            and time.perf_counter() < self._deadline
        ):
            self._sent += 1
            self._in_flight += 1
            try:
                record = await self._sender.send(self._request, user=index)
            finally:
                self._in_flight -= 1
            self._sink(record)
            if record.error == ERROR_CONNECT:
                await asyncio.sleep(self._CONNECT_ERROR_BACKOFF_S)

    async def stop(self, *, grace_s: float = 2.0) -> None:
        """Stop all users: requests in flight get `grace_s` to finish, then are cancelled."""
        self._running = False
        self._target = 0
        tasks = [task for task in self._tasks.values() if not task.done()]
        self._tasks.clear()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    raise result

    async def aclose(self) -> None:
        """Stop, then close the sender's connections."""
        await self.stop()
        await self._sender.aclose()
