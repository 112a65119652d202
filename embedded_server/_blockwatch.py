"""`BlockWatch`: names the line of the user's code that holds the event loop, and for how long.

A heartbeat task on the loop notes the time every few milliseconds. A watchdog thread looks
at the heartbeat; when it is older than the threshold, the loop is held by whatever runs on
it, so the thread samples the loop thread's Python stack (`sys._current_frames`) and keeps
the innermost frame in the user's code (not the standard library, not site-packages, not
LoopScope). One held stretch of the loop is one *stall*; stalls are grouped by route and
function into `BlockSite`s (how often, how long, the line seen most, and whether the loop
thread was computing or waiting meanwhile, from its CPU clock). Where one thread cannot read
another's CPU clock (not Linux), the heartbeat notes the loop thread's own CPU time at each
beat, and a stall gets the CPU share of the span between the beats around it.

The watch never touches the loop from its thread beyond reading the heartbeat, and costs
the loop one timer every `beat_s`; it is the py-spy idea in-process, limited to stalls.
"""

from __future__ import annotations

import asyncio
import linecache
import sys
import sysconfig
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from . import _compat, platform_support
from ._tasks import cancel_and_wait

# A loop held this long is a stall: 20 ms is a frame and a half at 60 Hz, and well above the
# heartbeat's own jitter on a busy loop.
DEFAULT_THRESHOLD_S = 0.020
# A route is known to hold the loop after this many stalls in its requests (see held_routes).
_HELD_AFTER_STALLS = 2
_BEAT_S = 0.005
_SAMPLE_S = 0.005
# The loop thread used the CPU this share of a stall's time: it computed rather than waited
# (a blocked wait measures ~0; computing ~0.9 alone, 0.4-0.6 on a busy machine).
COMPUTING_SHARE = 0.25
# Sites kept: a pathological app with stalls everywhere must not grow memory without bound.
_MAX_SITES = 256


@dataclass(frozen=True, slots=True)
class CodeSite:
    """A line of the user's code: where the loop was held."""

    file: str
    line: int
    function: str
    code: str  # the source line, stripped
    # The module of the Python function this line was inside when sampled ("requests.api",
    # "sqlite3"...), "" when the line itself ran (its own code, or a C call like time.sleep).
    calls_into: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class BlockSite:
    """Stalls of the loop in one function of the user's code, during one route."""

    route: str | None
    site: CodeSite  # the line sampled most often in this function
    stalls: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    # CPU time the loop thread used while the watch saw it held, and how long it saw it:
    # the watch notices a stall only `threshold_s` into it, so the share is over that span.
    cpu_s: float = 0.0
    observed_s: float = 0.0

    @property
    def cpu_share(self) -> float:
        """0: the loop thread waited (sleep, I/O); 1: it computed."""
        return min(1.0, self.cpu_s / self.observed_s) if self.observed_s > 0 else 0.0

    @property
    def computing(self) -> bool:
        return self.cpu_share >= COMPUTING_SHARE

    def to_json(self) -> dict[str, object]:
        return {
            "route": self.route,
            "file": self.site.file,
            "line": self.site.line,
            "function": self.site.function,
            "call": self.site.code,
            "calls_into": self.site.calls_into or None,
            "stalls": self.stalls,
            "total_ms": round(self.total_s * 1000, 1),
            "max_ms": round(self.max_s * 1000, 1),
            "cpu_share": round(self.cpu_share, 2),
        }


def computing(sites: Iterable[BlockSite]) -> bool:
    """Did the loop thread compute, over these sites' stalls taken together?"""
    listed = list(sites)
    return sum(s.cpu_s for s in listed) >= COMPUTING_SHARE * sum(s.observed_s for s in listed)


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    # "scripts": the environment's bin folder, where the `loopscope` entry script lies; its
    # `sys.exit(main())` is outward of every stall the window has, never the user's code.
    keys = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
    roots = {paths[key] for key in keys if key in paths}
    # LoopScope's own folders (an editable install maps them from the repository root).
    here = Path(__file__).resolve().parent
    roots |= {str(here), str(here.parent / "loadgen"), str(here.parent / "desktop_app")}
    for name in ("loopscope", "loopscope.loadgen", "loopscope.desktop_app"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            roots.add(str(Path(module.__file__).resolve().parent))  # type: ignore[arg-type]
    return tuple(sorted(roots))


@dataclass(slots=True)
class _Stall:
    """One request holding the loop. Requests queued behind a blocked loop run back to
    back in one pass of it, so one late heartbeat can span several: a stall ends when the
    loop's current task changes as well as when the heartbeat comes back."""

    beat: float  # the heartbeat this stall came after
    beat_cpu: float  # the loop thread's CPU time at that heartbeat, read on that thread
    task: object  # the loop's current task (None outside any)
    began_age_s: float  # heartbeat age when this request began holding the loop (~)
    first_age_s: float  # heartbeat age when the watch first saw it
    began_cpu: float | None  # the loop thread's CPU clock read from the watch (None: no such clock)
    last_age_s: float = 0.0
    last_cpu: float | None = None
    route: str | None = None
    lines: Counter[CodeSite] = field(default_factory=Counter)


class BlockWatch:
    """Watches one running loop; `sites()` says where and how long it was held."""

    def __init__(self, threshold_s: float = DEFAULT_THRESHOLD_S) -> None:
        _compat.check()  # one line, before any server starts, if asyncio moved its internals
        self.threshold_s = threshold_s
        # (perf_counter, the loop thread's own CPU time) at the last heartbeat: one tuple,
        # so that the watchdog thread reads the two of one beat.
        self._pulse = (time.perf_counter(), 0.0)
        self._heartbeat: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop_thread_id = 0
        # The last heartbeat the watchdog thread has looked at (see `caught_up`).
        self._seen_beat = 0.0
        # Whether the watchdog can read the loop thread's CPU clock (platform_support); if
        # not, closed stalls wait for the next heartbeat's CPU time (`_price_waiting`).
        self._reads_loop_cpu = False
        self._unpriced: list[_Stall] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._routes: dict[asyncio.Task[object], str] = {}
        self._sites: dict[tuple[str | None, str, str], BlockSite] = {}
        #: The routes whose requests held the loop in the user's code more than once (a
        #: one-off can be a collector's pause), for ProbedApp's guard; not cleared by
        #: `reset()`, it is what the route does. Added to on the watchdog thread; a
        #: membership test on the loop needs no lock.
        self.held_routes: set[str] = set()
        self._route_stalls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._roots = _library_roots()
        self._code_is_user: dict[str, bool] = {}
        #: Why the watch stopped early (None while it works).
        self.failure: str | None = None

    # -- on the loop -------------------------------------------------------------------

    def start(self) -> None:
        if self._heartbeat is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._reads_loop_cpu = platform_support.other_threads_cpu_readable()
        self._pulse = (time.perf_counter(), time.thread_time())
        self._heartbeat = self._loop.create_task(self._beating(), name="loopscope-blockwatch")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, name="loopscope-blockwatch", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        # A last heartbeat from this (the loop's) thread prices a stall still waiting.
        self._pulse = (time.perf_counter(), time.thread_time())
        self._stop.set()
        task, self._heartbeat = self._heartbeat, None
        await cancel_and_wait(task)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=1.0)

    async def _beating(self) -> None:
        while True:
            self._pulse = (time.perf_counter(), time.thread_time())
            await asyncio.sleep(_BEAT_S)

    def running(self, task: asyncio.Task[object], route: str) -> None:
        """`task` serves a request of `route` (called on the loop by ProbedApp)."""
        self._routes[task] = route

    def finished(self, task: asyncio.Task[object]) -> None:
        self._routes.pop(task, None)

    # -- results -----------------------------------------------------------------------

    def sites(self) -> list[BlockSite]:
        """Where the loop was held, longest total first."""
        with self._lock:
            found = [
                BlockSite(s.route, s.site, s.stalls, s.total_s, s.max_s, s.cpu_s, s.observed_s)
                for s in self._sites.values()
            ]
        return sorted(found, key=lambda s: s.total_s, reverse=True)

    def held_s(self) -> float:
        """Seconds the loop was held in the user's code (closed stalls) since `reset()`."""
        with self._lock:
            return sum(s.total_s for s in self._sites.values())

    async def caught_up(self, timeout_s: float = 0.5) -> None:
        """Return once the watchdog has looked at a heartbeat from after this call: a stall
        that just ended is then closed and in `sites()`. Polled: the thread has no way to
        wake the loop that costs less than a look every few milliseconds."""
        asked = time.perf_counter()
        deadline = asked + timeout_s
        while self._seen_beat < asked and time.perf_counter() < deadline:
            if self._thread is None or not self._thread.is_alive():
                return
            await asyncio.sleep(_SAMPLE_S)

    def reset(self) -> None:
        with self._lock:
            self._sites.clear()

    # -- on the watchdog thread ------------------------------------------------------

    def _cpu_now(self) -> float | None:
        """The loop thread's CPU clock read from here; None where no such clock is readable."""
        if not self._reads_loop_cpu:
            return None
        cpu = platform_support.thread_cpu_s(self._loop_thread_id)
        return 0.0 if cpu is None else cpu  # None here: the loop thread has ended

    def _current_task(self) -> object:
        return None if self._loop is None else _compat.current_task_of(self._loop)

    def _watch(self) -> None:
        try:
            self._watch_until_stopped()
        except Exception as exc:  # a diagnostic must never break the app it watches
            self.failure = f"{type(exc).__name__}: {exc}"

    def _watch_until_stopped(self) -> None:
        stall: _Stall | None = None
        while not self._stop.wait(_SAMPLE_S):
            beat, beat_cpu = pulse = self._pulse
            age = time.perf_counter() - beat
            if stall is not None and (beat != stall.beat or age < self.threshold_s):
                self._close(stall)
                stall = None
            self._price_waiting(pulse)
            if age < self.threshold_s:
                self._seen_beat = beat
                continue
            # The task and the stack are read one after the other while the loop runs on:
            # a sample whose task changed in between belongs to neither, skip it.
            task = self._current_task()
            frame = sys._current_frames().get(self._loop_thread_id)
            if self._current_task() is not task:
                continue
            cpu = self._cpu_now()
            if stall is not None and task is not stall.task:
                self._close(stall)
                stall = _Stall(beat, beat_cpu, task, stall.last_age_s, age, cpu)
            elif stall is None:
                stall = _Stall(beat, beat_cpu, task, 0.0, age, cpu)
            stall.last_age_s = age
            stall.last_cpu = cpu
            self._sample(stall, frame)
        if stall is not None:
            self._close(stall)
        self._price_waiting(self._pulse)

    def _sample(self, stall: _Stall, frame: FrameType | None) -> None:
        site = self._user_site(frame)
        if site is not None:
            stall.lines[site] += 1
        if stall.route is None and stall.task is not None:
            stall.route = self._routes.get(stall.task)  # type: ignore[call-overload]

    def _is_user_file(self, filename: str) -> bool:
        known = self._code_is_user.get(filename)
        if known is None:
            resolved = str(Path(filename).resolve()) if not filename.startswith("<") else ""
            known = bool(resolved) and not resolved.startswith(self._roots)
            if len(self._code_is_user) < 4096:
                self._code_is_user[filename] = known
        return known

    def _user_site(self, frame: FrameType | None) -> CodeSite | None:
        inner: FrameType | None = None
        while frame is not None:
            code = frame.f_code
            if code in _compat.LOOP_RUNNER_CODES:
                # The loop's own machinery: what lies outward is the program that started the
                # loop (asyncio.run in a script), never what holds it.
                return None
            if self._is_user_file(code.co_filename):
                line = frame.f_lineno or code.co_firstlineno
                text = linecache.getline(code.co_filename, line).strip()
                callee = "" if inner is None else str(inner.f_globals.get("__name__", ""))
                return CodeSite(
                    _short_path(code.co_filename), line, code.co_name, text[:120], callee
                )
            inner, frame = frame, frame.f_back
        return None

    def _close(self, stall: _Stall) -> None:
        if not stall.lines:
            return  # the loop was held outside the user's code (LoopScope, a library)
        if stall.began_cpu is None or stall.last_cpu is None:
            self._unpriced.append(stall)  # its CPU is known at the next heartbeat
            return
        self._record(stall, stall.last_cpu - stall.began_cpu)

    def _price_waiting(self, pulse: tuple[float, float]) -> None:
        """Record the closed stalls that came before this heartbeat, each with the loop
        thread's CPU share between its own heartbeat and this one (read on that thread)."""
        if not self._unpriced:
            return
        beat, beat_cpu = pulse
        waiting = []
        for stall in self._unpriced:
            if beat <= stall.beat:
                waiting.append(stall)
                continue
            share = (beat_cpu - stall.beat_cpu) / (beat - stall.beat)
            self._record(stall, share * (stall.last_age_s - stall.first_age_s))
        self._unpriced = waiting

    def _record(self, stall: _Stall, cpu_s: float) -> None:
        (site, _), *_ = stall.lines.most_common(1)
        duration = stall.last_age_s - stall.began_age_s
        observed = stall.last_age_s - stall.first_age_s
        cpu = max(0.0, min(observed, cpu_s))
        key = (stall.route, site.file, site.function)
        if stall.route is not None and (
            stall.route in self._route_stalls or len(self._route_stalls) < _MAX_SITES
        ):
            self._route_stalls[stall.route] += 1
            if self._route_stalls[stall.route] >= _HELD_AFTER_STALLS:
                self.held_routes.add(stall.route)
        with self._lock:
            found = self._sites.get(key)
            if found is None:
                if len(self._sites) >= _MAX_SITES:
                    return
                found = self._sites[key] = BlockSite(stall.route, site)
            found.stalls += 1
            found.total_s += duration
            found.max_s = max(found.max_s, duration)
            found.cpu_s += cpu
            found.observed_s += observed


def _short_path(filename: str) -> str:
    """The path relative to the current directory when it is inside it."""
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
