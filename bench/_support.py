"""Helpers the benchmarks share: a separate demo-server process, wrk, LoopScope's own runs
with their CPU, ratios to theory, arguments and JSON output.

Not a benchmark itself. Every load goes to 127.0.0.1; every wait here has a deadline.
Benchmarks use `loopscope.loadgen`'s public API only, as any other program would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from loopscope import loadgen

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
LOOPBACK = "127.0.0.1"

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def require_this_checkout() -> None:
    """Exit unless `loopscope.loadgen` is this checkout's code (`pip install -e .` here).

    A benchmark run on another install's code would put its numbers under this checkout's
    name. (Putting the checkout first on sys.path does not help: the subpackages install
    from their own folders, so only an install of this checkout measures it.)
    """
    source = Path(loadgen.__file__).resolve()
    if not source.is_relative_to(ROOT):
        sys.exit(
            f"loopscope.loadgen is imported from {source.parent}, not from {ROOT}: "
            f"run `pip install -e {ROOT}` in this environment first"
        )


def checkout_env() -> dict[str, str]:
    """The environment for child processes: this checkout's packages first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(ROOT), env.get("PYTHONPATH", "")) if part
    )
    return env


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a running process has used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the ")" closing the command name: state is field 0, utime 11, stime 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def children_cpu_s() -> float:
    """CPU seconds of all ended and waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_pct(before_s: float | None, after_s: float | None, wall_s: float) -> float | None:
    """CPU % over `wall_s` from two CPU readings; None when a reading is missing."""
    if before_s is None or after_s is None or wall_s <= 0:
        return None
    return 100 * (after_s - before_s) / wall_s


class ServerProcess:
    """`loopscope serve` in its own process on 127.0.0.1, on a port it picks itself."""

    def __init__(self, *, threads: int = 40, start_timeout_s: float = 30.0) -> None:
        self._threads = threads
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the server process is not running")
        return self._proc.pid

    def cpu_s(self) -> float | None:
        return process_cpu_s(self.pid)

    def start(self) -> str:
        code = "import sys; from loopscope.cli import main; sys.exit(main())"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", "0", "--threads", str(self._threads)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=checkout_env(),
            cwd=ROOT,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self._start_timeout_s
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("the demo server process did not start")
                if selector.select(timeout=left):
                    chunk = os.read(self._proc.stdout.fileno(), 4096)
                    if not chunk:
                        continue
                    buffer += chunk
        match = re.search(rb"http://127\.0\.0\.1:(\d+)", buffer)
        if match is None:
            self.stop()
            raise RuntimeError(f"unexpected first line from the server: {buffer!r}")
        self.url = f"http://{LOOPBACK}:{int(match.group(1))}"
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- wrk ---------------------------------------------------------------------------------


def ensure_wrk(*, install: bool = True) -> str | None:
    """The path of wrk; installs Debian's package when absent and running as root."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            "wrk is not installed; install it with `sudo apt-get install -y wrk` "
            "(Debian/Ubuntu) and run again",
            file=sys.stderr,
        )
        return None
    print("wrk is not installed: installing Debian's package (apt-get install -y wrk)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        result = subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600
        )
        if result.returncode != 0:
            print(f"{' '.join(command)} failed: {result.stderr.decode()[-500:]}", file=sys.stderr)
            return None
    return shutil.which("wrk")


@dataclass(frozen=True, slots=True)
class ClientResult:
    """One closed-loop measurement by one client."""

    client: str
    connections: int
    delay_ms: float
    duration_s: float
    requests: int
    errors: int
    throughput_rps: float
    latency_mean_ms: float | None
    client_cpu_pct: float | None
    server_cpu_pct: float | None

    def to_json(self) -> dict[str, object]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "client": self.client,
            "connections": self.connections,
            "delay_ms": self.delay_ms,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "errors": self.errors,
            "throughput_rps": r(self.throughput_rps),
            "latency_mean_ms": r(self.latency_mean_ms),
            "client_cpu_pct": r(self.client_cpu_pct),
            "server_cpu_pct": r(self.server_cpu_pct),
        }


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_latency_ms(text: str) -> float | None:
    match = re.search(r"^\s*Latency\s+([\d.]+)(us|ms|s|m)\b", text, re.MULTILINE)
    if match is None:
        return None
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def run_wrk(
    wrk: str,
    url: str,
    *,
    connections: int,
    duration_s: float,
    delay_ms: float,
    threads: int = 1,
    server: ServerProcess | None = None,
) -> ClientResult:
    """wrk against `url` (loopback only) for `duration_s`, with its CPU use.

    One wrk thread by default: on a 2-core machine the server needs the other core, and a
    Python generator is one thread too, so the comparison is core for core.
    """
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"load goes to {LOOPBACK} only, got {url}")
    threads = max(1, min(threads, connections))
    seconds = max(1, round(duration_s))
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", url]
    server_cpu_before = server.cpu_s() if server else None
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    wall = time.perf_counter() - started
    cpu = children_cpu_s() - cpu_before
    server_cpu_after = server.cpu_s() if server else None
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr.strip() or result.stdout.strip()}")
    text = result.stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    requests = int(match.group(1))
    measured_s = float(match.group(2)) * _UNITS_MS[match.group(3)] / 1000
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return ClientResult(
        client="wrk",
        connections=connections,
        delay_ms=delay_ms,
        duration_s=measured_s,
        requests=requests,
        errors=errors,
        throughput_rps=(requests - errors) / measured_s,
        latency_mean_ms=_wrk_latency_ms(text),
        client_cpu_pct=100 * cpu / wall,
        server_cpu_pct=cpu_pct(server_cpu_before, server_cpu_after, wall),
    )


def scenario_url(base: str, delay_ms: float) -> str:
    return f"{base}/scenario/async?delay_ms={delay_ms:g}"


# --- LoopScope's own runs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasuredRun:
    """One `loadgen.run_load` run (what `loopscope run` does) and the CPU it took.

    cpu_pct: this process over the whole run, warm-up and shutdown included (the
    benchmark does nothing else meanwhile); server_cpu_pct: the separate server
    process's, None when the server shares this process (no target).
    """

    result: loadgen.RunResult
    cpu_pct: float
    server_cpu_pct: float | None


def run_load_measured(
    settings: loadgen.RunSettings, server: ServerProcess | None = None
) -> MeasuredRun:
    """Run `settings` on a fresh event loop, as `loopscope run` does, measuring CPU."""
    server_before = server.cpu_s() if server is not None else None
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    result = asyncio.run(loadgen.run_load(settings))
    cpu_after, wall_after = time.process_time(), time.perf_counter()
    server_after = server.cpu_s() if server is not None else None
    wall = wall_after - wall_before
    return MeasuredRun(
        result,
        100 * (cpu_after - cpu_before) / wall,
        cpu_pct(server_before, server_after, wall),
    )


# --- ratios to theory --------------------------------------------------------------------


def ratio(measured: float, predicted: float) -> float:
    """measured / predicted; NaN where theory has no finite, positive figure."""
    if math.isnan(measured) or math.isnan(predicted) or predicted <= 0 or math.isinf(predicted):
        return math.nan
    return measured / predicted


def within(value: float, tolerance: float) -> bool:
    """A ratio within 1 ± tolerance; NaN (no measurement or no theory) never is."""
    return 1 - tolerance <= value <= 1 + tolerance


def theory_cells(
    measured_rps: float, theory_rps: float, measured_ms: float, theory_ms: float
) -> list[str]:
    """Table cells: throughput measured, theory, ratio; then latency measured, theory, ratio."""
    return [
        fmt(measured_rps, 1),
        fmt(theory_rps, 1),
        fmt(ratio(measured_rps, theory_rps), 2),
        fmt(measured_ms, 1),
        fmt(theory_ms, 1),
        fmt(ratio(measured_ms, theory_ms), 2),
    ]


def nan_none(value: float, digits: int | None = None) -> float | None:
    """None for NaN (JSON has no NaN), else the value, rounded to `digits` if given."""
    if math.isnan(value):
        return None
    return value if digits is None else round(value, digits)


# --- arguments and output ----------------------------------------------------------------


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    out: Path,
    per: str,
    duration_s: float = 5.0,
    warmup_s: float = 1.0,
    warmup_of: str = "",
) -> None:
    """--duration, --warmup (both per `per`, e.g. "row") and --out, as every benchmark has.

    warmup_of: whose warm-up it is, when not every client's (e.g. "the generator's").
    """
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=duration_s,
        help=f"measured seconds per {per} (default {duration_s:g})",
    )
    parser.add_argument(
        "--warmup",
        type=positive_float,
        default=warmup_s,
        help=f"{warmup_of or 'the'} warm-up seconds per {per}, not measured (default {warmup_s:g})",
    )
    parser.add_argument("--out", type=Path, default=out, help=f"JSON output path (default {out})")


def machine_info() -> dict[str, object]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def write_json(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(
            f"need a comma-separated list of positive integers, got {text!r}"
        )
    return values


def fmt(value: float | None, digits: int = 0) -> str:
    """A table cell: "-" for None or NaN."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(f"{cell:>{width}}" for cell, width in zip(header, widths, strict=True))]
    lines.append("-" * len(lines[0]))
    for row in rows:
        lines.append("  ".join(f"{cell:>{width}}" for cell, width in zip(row, widths, strict=True)))
    return "\n".join(lines)


# Process groups a bench started and has not yet reaped (bench/real_apps.py, real_servers.py).
LIVE_GROUPS: set[int] = set()


def kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def ended_on_exit() -> Iterator[None]:
    """SIGTERM ends the bench like Ctrl+C does, and every group in LIVE_GROUPS is killed."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        for pgid in list(LIVE_GROUPS):
            kill_group(pgid, signal.SIGKILL)
        signal.signal(signal.SIGTERM, previous)
