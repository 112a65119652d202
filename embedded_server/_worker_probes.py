"""`WorkerProbes`: the probes of a server process (`ServerProcess`), read over HTTP.

In the shared loop the window reads the server's probes from Python. A server in its own
process has them in each worker: each worker answers `GET /stats` on a port of its own
(`ServerProcess.probe_urls`; the shared port would answer from whichever worker the kernel
picks), and a task here reads them all every period, so that reading never waits on HTTP.
The figures are the workers' together: in-flight requests and thread tokens summed, loop
lag the worst worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ._blockwatch import BlockWatch
from ._probes import LoopLagMonitor, ThreadPoolStats
from ._tasks import cancel_and_wait

# A worker busy with CPU-bound requests answers its /stats late (its loop waits for the
# GIL); longer than this and the last figures stay shown.
_READ_TIMEOUT_S = 2.0


class WorkerProbes:
    """The latest probes of every worker, summed; the same reading API as `ServerProbes`
    (in_flight, threadpool, set_thread_tokens), so a sweep can settle on them."""

    #: No user's app runs in the workers: nothing to watch.
    block_watch: BlockWatch | None = None

    def __init__(self, urls: Sequence[str], *, threads: int, period_s: float = 0.1) -> None:
        self._urls = tuple(urls)
        self._period_s = period_s
        self._wanted_threads = threads
        self._sent_threads = threads  # the workers started with it
        self._latest: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        #: Completed reads (every worker asked once each): for a caller to wait on.
        self.reads = 0
        #: Workers that answered the last read.
        self.answered = 0

    @property
    def workers(self) -> int:
        return len(self._urls)

    @property
    def loop_lag(self) -> LoopLagMonitor | None:
        """None: the workers' loops are not the caller's, so a generator's health verdict
        keeps a timer of its own (the workers' lag is `server_lag_ms`)."""
        return None

    async def start(self) -> None:
        """Read once (so that figures exist), then every period in a task."""
        # verify=False: plain http on loopback; the certificate store would hold the loop ~50 ms.
        self._client = httpx.AsyncClient(trust_env=False, timeout=_READ_TIMEOUT_S, verify=False)
        await self._read(self._period_s)
        self._task = asyncio.get_running_loop().create_task(
            self._read_forever(), name="loopscope-worker-probes"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> WorkerProbes:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _read_forever(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self._period_s)
            now = time.perf_counter()
            await self._read(now - last)
            last = now

    async def _read(self, window_s: float) -> None:
        window_ms = max(1, min(60_000, round(window_s * 1000)))
        answers = await asyncio.gather(
            *(self._read_one(url, window_ms) for url in self._urls), return_exceptions=True
        )
        self.answered = 0
        for url, answer in zip(self._urls, answers, strict=True):
            if isinstance(answer, dict):
                self._latest[url] = answer
                self.answered += 1
        self.reads += 1
        if self._wanted_threads != self._sent_threads:
            await self._send_threads(self._wanted_threads)

    async def _read_one(self, url: str, window_ms: int) -> dict[str, Any]:
        assert self._client is not None
        response = await self._client.get(f"{url}/stats", params={"lag_window_ms": window_ms})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def _send_threads(self, tokens: int) -> None:
        assert self._client is not None
        with contextlib.suppress(httpx.HTTPError):
            await asyncio.gather(
                *(
                    self._client.put(f"{url}/threadpool", params={"tokens": tokens})
                    for url in self._urls
                )
            )
            self._sent_threads = tokens

    def set_thread_tokens(self, tokens: int) -> None:
        """Every worker's pool: sent with the next read (each worker has a pool of its own)."""
        self._wanted_threads = tokens

    def in_flight(self) -> dict[str, int]:
        """Requests in the workers, per scenario, summed over the workers."""
        counts: dict[str, int] = {}
        for stats in self._latest.values():
            for name, count in stats["in_flight"].items():
                counts[name] = counts.get(name, 0) + int(count)
        return counts

    def threadpool(self) -> ThreadPoolStats:
        """Thread tokens of all the workers together (each has a pool of its own)."""
        pools = [stats["threadpool"] for stats in self._latest.values()]
        if not pools:
            return ThreadPoolStats(total=self._wanted_threads * self.workers, borrowed=0, waiting=0)
        return ThreadPoolStats(
            total=sum(int(p["total"]) for p in pools),
            borrowed=sum(int(p["borrowed"]) for p in pools),
            waiting=sum(int(p["waiting"]) for p in pools),
        )

    def server_lag_ms(self) -> float:
        """The worst worker's loop lag over the last period."""
        return max(
            (float(s.get("loop_lag_window_ms", 0.0)) for s in self._latest.values()), default=0.0
        )
