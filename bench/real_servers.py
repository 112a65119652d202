"""LoopScope beside wrk against real servers on loopback, with the servers' own counts.

For each server (uvicorn with h11 and with httptools, hypercorn, granian, gunicorn's sync
worker, aiohttp.web, nginx) the bench starts it on 127.0.0.1 serving a tiny app written here
at run time: `/hello` answers "hello", `/count` says how many `/hello` requests this process
served (one worker everywhere, so one count; nginx: its access log's lines). Then

1. `loopscope run --url http://127.0.0.1:PORT/hello --concurrency 50 --duration 5 --warmup 0`:
   every OK record it made (the JSON's `whole_run`: warm-up and drain included) must equal
   the server's own count; errors by kind and the generator-health verdict are kept;
2. `wrk -t1 -c50 -d5s` on the same URL: LoopScope / wrk throughput (both one core).

The Python servers live in a venv of their own under ~/.cache/loopscope-bench/servers-venv,
not in the project's; nginx and wrk are Debian's packages. Optionally, nginx with
`keepalive_timeout 1s` at `--rate 1`: a client that reuses a connection the server has closed
counts stale keep-alive errors. Throughput ratios mean something on a quiet machine only: the
JSON says which kind of machine the run had (`busy_machine`).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _support import (
    LIVE_GROUPS,
    LOOPBACK,
    RESULTS,
    checkout_env,
    ended_on_exit,
    ensure_wrk,
    fmt,
    kill_group,
    machine_info,
    positive_float,
    require_this_checkout,
    run_wrk,
    table,
    write_json,
)

CACHE = Path.home() / ".cache" / "loopscope-bench"
VENV = CACHE / "servers-venv"
DEFAULT_OUT = RESULTS / "real_servers.json"
# What the servers' venv needs; uvicorn's h11 and httptools protocols are both measured.
VENV_PACKAGES = ("uvicorn", "h11", "httptools", "hypercorn", "granian", "gunicorn", "aiohttp")
VENV_IMPORTS = "import uvicorn, h11, httptools, hypercorn, granian, gunicorn, aiohttp"
SERVERS = (
    "uvicorn-h11",
    "uvicorn-httptools",
    "hypercorn",
    "granian",
    "gunicorn-sync",
    "aiohttp",
    "nginx",
)
START_TIMEOUT_S = 30.0

ASGI_APP = '''"""/hello, and /count: how many /hello this process served."""
import os

count = 0


async def app(scope, receive, send):
    global count
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    status, body = 200, b"hello\\n"
    if scope["path"] == "/hello":
        count += 1
    elif scope["path"] == "/count":
        body = f"{count} {os.getpid()}\\n".encode()
    else:
        status, body = 404, b"not found\\n"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
'''

WSGI_APP = '''"""/hello, and /count: how many /hello this process served."""
import os

count = 0


def app(environ, start_response):
    global count
    status, body = "200 OK", b"hello\\n"
    if environ["PATH_INFO"] == "/hello":
        count += 1
    elif environ["PATH_INFO"] == "/count":
        body = f"{count} {os.getpid()}\\n".encode()
    else:
        status, body = "404 Not Found", b"not found\\n"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

AIOHTTP_APP = '''"""/hello, and /count: how many /hello this process served."""
import os
import sys

from aiohttp import web

count = 0


async def hello(request):
    global count
    count += 1
    return web.Response(text="hello\\n")


async def counter(request):
    return web.Response(text=f"{count} {os.getpid()}\\n")


app = web.Application()
app.add_routes([web.get("/hello", hello), web.get("/count", counter)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''

NGINX_CONF = """worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$uri $status';
    access_log {dir}/access.log bench;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout {keepalive};
    server {{
        listen 127.0.0.1:{port};
        location = /hello {{ default_type text/plain; return 200 "hello\\n"; }}
    }}
}}
"""


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def ensure_venv() -> Path:
    """The servers' venv's python, created and filled on first use."""
    python = VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run([python, "-c", VENV_IMPORTS], capture_output=True, check=False)
        if check.returncode == 0:
            return python
    else:
        print(f"creating the servers' venv in {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    print(f"installing {', '.join(VENV_PACKAGES)} into {VENV}", flush=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", *VENV_PACKAGES], check=True, timeout=900
    )
    return python


@dataclass(slots=True)
class Server:
    """One server process (group) on 127.0.0.1:port, and how to read its count."""

    name: str
    command: list[str]
    port: int
    folder: Path
    access_log: Path | None = None  # nginx: its count is this log's /hello lines
    proc: subprocess.Popen[bytes] | None = None
    version: str = ""

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        log = (self.folder / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        LIVE_GROUPS.add(self.proc.pid)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.count()
                return
            except OSError:
                time.sleep(0.2)  # polling a port that is not listening yet: nothing to await
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")

    def count(self) -> int:
        """How many /hello requests the server has answered so far, by its own account."""
        if self.access_log is not None:
            with urllib.request.urlopen(f"{self.base}/hello", timeout=5) as answer:
                answer.read()  # the readiness probe counts too; taken off below
            time.sleep(0.3)  # nginx writes the log line after the answer
            lines = self.access_log.read_text(encoding="utf-8").splitlines()
            return sum(line == "/hello 200" for line in lines)
        with urllib.request.urlopen(f"{self.base}/count", timeout=5) as answer:
            return int(answer.read().split()[0])

    def log_tail(self) -> str:
        path = self.folder / f"{self.name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-5:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        kill_group(proc.pid, signal.SIGKILL)  # workers left in the group
        LIVE_GROUPS.discard(proc.pid)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def make_server(name: str, python: Path, folder: Path, *, keepalive: str = "75s") -> Server:
    """The server `name` with its app (or nginx's configuration) written into `folder`."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "asgi_app.py").write_text(ASGI_APP, encoding="utf-8")
    (folder / "wsgi_app.py").write_text(WSGI_APP, encoding="utf-8")
    (folder / "aiohttp_app.py").write_text(AIOHTTP_APP, encoding="utf-8")
    bin_dir = python.parent
    host = ["--host", LOOPBACK, "--port", str(port)]
    if name.startswith("uvicorn-"):
        http = name.removeprefix("uvicorn-")
        command = [
            str(python),
            "-m",
            "uvicorn",
            "asgi_app:app",
            *host,
            "--http",
            http,
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    elif name == "hypercorn":
        command = [str(bin_dir / "hypercorn"), "asgi_app:app", "--bind", f"{LOOPBACK}:{port}"]
    elif name == "granian":
        command = [str(bin_dir / "granian"), "--interface", "asgi", *host, "--workers", "1"]
        command.append("asgi_app:app")
    elif name == "gunicorn-sync":
        command = [
            str(bin_dir / "gunicorn"),
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--bind",
            f"{LOOPBACK}:{port}",
            "wsgi_app:app",
        ]
    elif name == "aiohttp":
        command = [str(python), "aiohttp_app.py", str(port)]
    elif name.startswith("nginx"):
        conf = folder / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(dir=folder, port=port, keepalive=keepalive), encoding="utf-8"
        )
        command = ["nginx", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
        command += ["-g", "daemon off;"]
        return Server(name, command, port, folder, access_log=folder / "access.log")
    else:
        raise ValueError(f"unknown server {name!r}")
    return Server(name, command, port, folder)


def server_version(name: str, python: Path) -> str:
    if name.startswith("nginx"):
        done = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
        return done.stderr.strip().rpartition("/")[2]
    package = name.partition("-")[0]
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip()


# --- LoopScope's run -------------------------------------------------------------------------


@dataclass(slots=True)
class LoopScopeRun:
    returncode: int | None
    ok: int
    # Every answer of the run, warm-up and drain included (the JSON's `whole_run`): what
    # the server's own count is checked against.
    whole_ok: int
    requests: int
    errors: dict[str, int]
    drained_errors: dict[str, int]
    # Requests started within the measured interval and answered, the drain included.
    drained_answered: int
    censored: int
    throughput_rps: float | None
    health: dict[str, object]
    health_line: str
    wall_s: float
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The generator-health verdict: limited or healthy, with its CPU and loop lag."""
        if not self.health:
            return "-"
        word = "generator-limited" if self.health.get("generator_limited") else "healthy"
        return (
            f"{word} ({self.health.get('cpu_percent_of_one_core')}% of a core, "
            f"loop lag p99 {self.health.get('loop_lag_p99_ms')} ms)"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "returncode": self.returncode,
            "ok": self.ok,
            "whole_run_ok": self.whole_ok,
            "requests": self.requests,
            "errors": self.errors,
            "drained_errors": self.drained_errors,
            "drained_answered": self.drained_answered,
            "censored": self.censored,
            "throughput_rps": self.throughput_rps,
            "generator_health": self.health,
            "health_verdict": self.verdict,
            "health_line": self.health_line,
            "wall_s": round(self.wall_s, 2),
            "stderr_tail": self.stderr_tail,
        }


def run_loopscope(url: str, options: Sequence[str], folder: Path, limit_s: float) -> LoopScopeRun:
    """`loopscope run --url URL OPTIONS --json ...` of this checkout, bounded in time."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"load goes to {LOOPBACK} only, got {url}")
    out = folder / "loopscope.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "loopscope", "run", "--url", url, *options, "--json", str(out)]
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=checkout_env(),
        start_new_session=True,
    )
    LIVE_GROUPS.add(proc.pid)
    try:
        stdout_b, stderr_b = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid, signal.SIGTERM)
        try:
            stdout_b, stderr_b = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, signal.SIGKILL)
            stdout_b, stderr_b = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        LIVE_GROUPS.discard(proc.pid)
    wall = time.monotonic() - started
    stdout, stderr = stdout_b.decode(errors="replace"), stderr_b.decode(errors="replace")
    # The report's "generator: healthy (...)" line; a limited generator says so in a
    # warning instead, which the JSON's generator_health holds too.
    health_line = next(
        (line.strip() for line in stdout.splitlines() if line.strip().startswith("generator")),
        "",
    )
    report: dict[str, object] = {}
    if out.is_file():
        report = json.loads(out.read_text(encoding="utf-8"))
    drained = report.get("drained") or {}
    assert isinstance(drained, dict)
    whole = report.get("whole_run") or {}
    assert isinstance(whole, dict)
    throughput = report.get("throughput_rps")
    return LoopScopeRun(
        returncode=proc.returncode,
        ok=int(report.get("ok", 0)),  # type: ignore[call-overload]
        whole_ok=int(whole.get("ok", report.get("ok", 0))),
        requests=int(report.get("requests", 0)),  # type: ignore[call-overload]
        errors=dict(report.get("errors") or {}),  # type: ignore[call-overload]
        drained_errors=dict(drained.get("errors") or {}),
        drained_answered=int(drained.get("answered") or 0),
        censored=int(drained.get("censored") or 0),
        throughput_rps=float(throughput) if isinstance(throughput, int | float) else None,
        health=dict(report.get("generator_health") or {}),  # type: ignore[call-overload]
        health_line=health_line,
        wall_s=wall,
        stderr_tail=[line[:300] for line in stderr.strip().splitlines()[-8:]],
    )


# --- one server ------------------------------------------------------------------------------


@dataclass(slots=True)
class ServerResult:
    server: str
    version: str
    loopscope: LoopScopeRun | None = None
    server_count: int | None = None
    wrk_rps: float | None = None
    wrk_requests: int | None = None
    wrk_errors: int | None = None
    wrk_server_count: int | None = None
    failure: str = ""

    @property
    def counts_equal(self) -> bool:
        return self.loopscope is not None and self.loopscope.whole_ok == self.server_count

    @property
    def ratio(self) -> float | None:
        if self.loopscope is None or not self.loopscope.throughput_rps or not self.wrk_rps:
            return None
        return self.loopscope.throughput_rps / self.wrk_rps

    def cells(self) -> list[str]:
        run = self.loopscope
        if run is None:
            return [self.server, self.version, *["-"] * 7, f"FAILED: {self.failure[:60]}"]
        errors = {**run.errors}
        for kind, count in run.drained_errors.items():
            errors[kind] = max(errors.get(kind, 0), count)
        return [
            self.server,
            self.version,
            str(run.whole_ok),
            str(self.server_count),
            "yes" if self.counts_equal else f"NO ({(self.server_count or 0) - run.whole_ok:+d})",
            ", ".join(f"{k} {v}" for k, v in errors.items()) or "none",
            fmt(run.throughput_rps),
            fmt(self.wrk_rps),
            fmt(self.ratio, 2),
            run.verdict,
        ]

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {
            "server": self.server,
            "version": self.version,
            "loopscope": self.loopscope.to_json() if self.loopscope else None,
            "server_count": self.server_count,
            "ok_equals_server_count": self.counts_equal,
            "server_count_minus_whole_run_ok": (
                None
                if self.loopscope is None or self.server_count is None
                else self.server_count - self.loopscope.whole_ok
            ),
            "server_count_minus_drained_answered": (
                None
                if self.loopscope is None or self.server_count is None
                else self.server_count - self.loopscope.drained_answered
            ),
            "wrk": {
                "throughput_rps": None if self.wrk_rps is None else round(self.wrk_rps, 1),
                "requests": self.wrk_requests,
                "errors": self.wrk_errors,
                "server_count": self.wrk_server_count,
            },
            "ratio_loopscope_to_wrk": None if ratio is None else round(ratio, 3),
            "failure": self.failure,
        }


HEADER = ["server", "version", "LS ok (whole run)", "server", "equal", "LS errors", "LS req/s"]
HEADER += ["wrk req/s", "LS/wrk", "generator health"]


def measure(
    name: str, python: Path, folder: Path, wrk: str, concurrency: int, duration_s: float
) -> ServerResult:
    result = ServerResult(name, server_version(name, python))
    server = make_server(name, python, folder)
    try:
        with server:
            before = server.count()
            result.loopscope = run_loopscope(
                f"{server.base}/hello",
                [
                    "--concurrency",
                    str(concurrency),
                    "--duration",
                    f"{duration_s:g}",
                    "--warmup",
                    "0",
                ],
                folder,
                limit_s=duration_s + 60,
            )
            # nginx's count() sends one /hello of its own, counted in `after` but not `before`.
            after = server.count() - (1 if server.access_log else 0)
            result.server_count = after - before
            wrk_result = run_wrk(
                wrk,
                f"{server.base}/hello",
                connections=concurrency,
                duration_s=duration_s,
                delay_ms=0,
            )
            result.wrk_rps = wrk_result.throughput_rps
            result.wrk_requests = wrk_result.requests
            result.wrk_errors = wrk_result.errors
            result.wrk_server_count = server.count() - after - (1 if server.access_log else 0)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        result.failure = f"{type(exc).__name__}: {exc}"
    return result


def stale_keepalive(folder: Path, duration_s: float) -> dict[str, object]:
    """nginx closing idle connections after 1 s, LoopScope sending one request a second."""
    server = make_server("nginx-keepalive-1s", Path(sys.executable), folder, keepalive="1s")
    try:
        with server:
            before = server.count()
            run = run_loopscope(
                f"{server.base}/hello",
                ["--rate", "1", "--duration", f"{duration_s:g}", "--warmup", "0"],
                folder,
                limit_s=duration_s + 60,
            )
            after = server.count() - 1
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        return {"failure": f"{type(exc).__name__}: {exc}"}
    return {
        "keepalive_timeout_s": 1,
        "rate": 1,
        "duration_s": duration_s,
        "ok": run.whole_ok,
        "server_count": after - before,
        "errors": {**run.errors},
        "errors_total": sum(run.errors.values()),
        "loopscope": run.to_json(),
    }


# --- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="LoopScope and wrk side by side against real servers on 127.0.0.1."
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, from {', '.join(SERVERS)} (default: all)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="connections (default 50)")
    parser.add_argument(
        "--duration", type=positive_float, default=5.0, help="seconds per client (default 5)"
    )
    parser.add_argument(
        "--quiet-machine",
        action="store_true",
        help="say in the JSON that nothing else ran meanwhile (default: a busy machine)",
    )
    parser.add_argument(
        "--keepalive-duration",
        type=positive_float,
        default=20.0,
        help="seconds of the stale keep-alive check (default 20)",
    )
    parser.add_argument(
        "--no-keepalive-check",
        action="store_true",
        help="leave out nginx with keepalive_timeout 1s at --rate 1",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON output path (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        parser.error(f"unknown servers {unknown}; known: {', '.join(SERVERS)}")
    if not 1 <= args.concurrency <= 1000:
        parser.error("--concurrency must be 1-1000")
    require_this_checkout()
    wrk = ensure_wrk()
    if wrk is None:
        return 1
    python = ensure_venv()
    print(
        f"LoopScope vs wrk -t1: {args.concurrency} connections, {args.duration:g} s each, "
        f"servers on {LOOPBACK} ({'quiet' if args.quiet_machine else 'busy'} machine)",
        flush=True,
    )
    results: list[ServerResult] = []
    keepalive: dict[str, object] | None = None
    interrupted = False
    try:
        with ended_on_exit(), tempfile.TemporaryDirectory(prefix="loopscope-real-servers-") as tmp:
            for name in names:
                result = measure(
                    name, python, Path(tmp, name), wrk, args.concurrency, args.duration
                )
                results.append(result)
                print("  ".join(result.cells()), flush=True)
            if not args.no_keepalive_check:
                keepalive = stale_keepalive(Path(tmp, "nginx-keepalive"), args.keepalive_duration)
                print(
                    f"nginx keepalive_timeout 1s, --rate 1 for {args.keepalive_duration:g} s: "
                    f"OK {keepalive.get('ok')}, server count {keepalive.get('server_count')}, "
                    f"errors {keepalive.get('errors') or 'none'} {keepalive.get('failure', '')}",
                    flush=True,
                )
    except KeyboardInterrupt:
        interrupted = True
        print(
            "\ninterrupted: every server stopped; the JSON holds the servers measured", flush=True
        )

    print()
    print(table([r.cells() for r in results], HEADER))
    measured = [r for r in results if r.loopscope is not None]
    equal = sum(r.counts_equal for r in measured)
    ratios = [r.ratio for r in measured if r.ratio is not None]
    gaps = sorted({(r.server_count or 0) - r.loopscope.whole_ok for r in measured if r.loopscope})
    print(
        f"\nOK records = the server's own count on {equal} of {len(results)} servers "
        f"(server - OK: {gaps}); "
        f"LoopScope/wrk {fmt(min(ratios, default=None), 2)}-{fmt(max(ratios, default=None), 2)}"
        + ("" if args.quiet_machine else " (busy machine: ratios are not meaningful)")
    )
    write_json(
        args.out,
        {
            "benchmark": "real_servers",
            **machine_info(),
            "busy_machine": not args.quiet_machine,
            "complete": not interrupted,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "wrk_threads": 1,
            "loopscope_options": "--warmup 0; counts from the JSON's whole_run",
            "counts_equal": f"{equal} of {len(results)}",
            "servers": [r.to_json() for r in results],
            "stale_keepalive": keepalive,
        },
    )
    print(f"wrote {args.out}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
