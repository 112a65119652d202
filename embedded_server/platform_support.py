"""What differs between Linux, macOS and Windows: every Linux-only call, each with a fallback.

LoopScope is built on Linux; teachers run macOS and Windows. Each call below has a fallback
that keeps its feature honest: where the system cannot say something the answer is None
("unknown"), never a figure made up to look like one.

feature                              Linux                          elsewhere
a server worker dies with its parent prctl(PR_SET_PDEATHSIG)        the worker polls its parent
workers in processes of their own    sockets passed by descriptor   macOS alike; Windows: refused
workers balanced on one port         SO_REUSEPORT, a socket each    one socket shared by all
threads' CPU time and wait for one   /proc/<pid>/task/*/schedstat   None
another thread's CPU time            time.pthread_getcpuclockid     None (own: time.thread_time)
give the C heap's free pages back    glibc malloc_trim, mallopt     nothing

The module lives in the lowest package so that every package may import it (the arrows point
entry -> desktop_app -> loadgen -> embedded_server). `LOOPSCOPE_FORCE_FALLBACKS=1` forces every
fallback on Linux too, so the test suite can show that each holds; child processes inherit it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

FORCE_FALLBACKS_VARIABLE = "LOOPSCOPE_FORCE_FALLBACKS"
# prctl's option number (linux/prctl.h).
_PR_SET_PDEATHSIG = 1

# (seconds on a CPU, seconds runnable but waiting for one) per "pid/tid".
ThreadTimes = dict[str, tuple[float, float]]


def fallbacks_forced() -> bool:
    """True when the environment asks for every fallback, whatever the system offers."""
    return os.environ.get(FORCE_FALLBACKS_VARIABLE, "") not in ("", "0")


def _linux() -> bool:
    return sys.platform.startswith("linux") and not fallbacks_forced()


# -- child processes -------------------------------------------------------------------


def has_death_signal() -> bool:
    """True where a child can ask the kernel for SIGTERM when its parent dies (Linux)."""
    return _linux()


def _ask_for_death_signal() -> None:  # pragma: no cover - runs in the child, before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that makes the child get SIGTERM when its parent
    dies; None where no system call does that: the child then polls (`parent_gone`)."""
    return _ask_for_death_signal if has_death_signal() else None


def parent_gone(parent: int) -> bool:
    """Has the process that was this one's parent (`os.getppid()` at start) ended? On POSIX
    an orphan is handed to init or a subreaper, so its parent id changes."""
    return os.getppid() != parent


# -- sockets ---------------------------------------------------------------------------


def hands_sockets_to_children() -> bool:
    """True where a child process can inherit a listening socket by its descriptor and be
    ended with its process group (POSIX: Linux, macOS); Windows has neither."""
    return os.name == "posix"


def reuse_port_balances() -> bool:
    """True where sockets bound to one port with SO_REUSEPORT each get a share of its new
    connections (Linux). macOS accepts the option but hands every connection to one of the
    sockets; Windows has no such option."""
    return _linux() and hasattr(socket, "SO_REUSEPORT")


# -- CPU time --------------------------------------------------------------------------


def thread_cpu_times(pids: Sequence[int] = ()) -> ThreadTimes | None:
    """Each thread of these processes (default: this one): (seconds on a CPU, seconds
    runnable but waiting for one); None where the system does not say (not Linux)."""
    if not _linux():
        return None
    times: ThreadTimes = {}
    for pid in pids or ("self",):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            if pids:
                continue  # a worker that ended meanwhile
            return None
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as file:
                    fields = file.read().split()
            except OSError:
                continue  # a thread that ended meanwhile
            times[f"{pid}/{tid}"] = (int(fields[0]) / 1e9, int(fields[1]) / 1e9)
    return times


def other_threads_cpu_readable() -> bool:
    """True where one thread can read another's CPU clock (`thread_cpu_s`)."""
    return _linux() and hasattr(time, "pthread_getcpuclockid")


def thread_cpu_s(ident: int) -> float | None:
    """CPU seconds the thread `ident` (a `threading.get_ident()`) has used. The calling
    thread's own always reads (`time.thread_time`); another's is None where the system has
    no per-thread clock to read from outside, or when that thread has ended."""
    if ident == threading.get_ident():
        return time.thread_time()
    if not other_threads_cpu_readable():
        return None
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except OSError:  # the thread has ended
        return None


# -- the C heap ------------------------------------------------------------------------


def _glibc(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim, no mallopt)
        return None
    return function


_MALLOC_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def has_heap_trim() -> bool:
    """True where the C library can give its free heap pages back (glibc)."""
    return _MALLOC_TRIM is not None and _MALLOPT is not None and not fallbacks_forced()


def set_heap_thresholds(mmap_bytes: int, trim_bytes: int) -> None:
    """glibc's mmap and trim thresholds, fixed for the rest of the process; nothing
    elsewhere (other allocators choose for themselves)."""
    if has_heap_trim():
        assert _MALLOPT is not None
        _MALLOPT(_M_MMAP_THRESHOLD, mmap_bytes)
        _MALLOPT(_M_TRIM_THRESHOLD, trim_bytes)


def trim_heap() -> None:
    """glibc's malloc_trim(0); nothing elsewhere."""
    if has_heap_trim():
        assert _MALLOC_TRIM is not None
        _MALLOC_TRIM(0)
