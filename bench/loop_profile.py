"""Where one request's CPU goes on the shared loop: a py-spy profile of `loopscope run`,
sorted into the parts of the per-request budget.

Runs `loopscope run --scenario async` in-process (server and generator on one loop) under
py-spy (`pip install py-spy`; sampling from outside, the run itself is unchanged), sorts
every sample by the innermost frame that belongs to a known part (the server's FastAPI
stack, uvicorn, the client's HTTP transport, the generator and recorder, asyncio's scheduling and
socket calls, start-up), and turns the shares into microseconds per request with the
child's CPU time. Writes bench/results/loop_profile.json. Not part of the tests.

    python bench/loop_profile.py [--users 300] [--delay-ms 1000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _support import RESULTS, checkout_env, machine_info, require_this_checkout, write_json

IDLE = "idle (waiting in epoll or on a lock)"
STARTUP = "start-up (imports, building the app)"
# (part, patterns of a frame's file or function), innermost match wins; order matters only
# between parts whose patterns could both match one frame.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Waiting: the loop in epoll, other threads (the GC pacer between ticks) on a lock.
    (IDLE, ("EpollSelector.select", "Condition.wait", "Event.wait")),
    (STARTUP, ("importlib", "<module>", "create_app", "freeze_startup_objects")),
    (
        "server: FastAPI and Starlette (routing, validation, encoding, middleware) + route",
        ("fastapi/", "starlette/", "pydantic", "embedded_server/_app.py"),
    ),
    (
        "server: LoopScope's timing middleware and probes",
        ("_timing.py", "_probes.py", "_phases.py", "_turnstile.py"),
    ),
    ("server: uvicorn protocol + httptools parser", ("uvicorn/", "httptools")),
    ("garbage collection (the pacing thread)", ("_gc_policy.py",)),
    ("client: LoopScope's HTTP/1.1 transport (pool, httptools parser)", ("loadgen/_http1.py",)),
    ("client: generator and recorder", ("loadgen/", "hdrh/")),
    ("client: aiohttp (HTTP/1.1, connection pool)", ("aiohttp/", "yarl/", "multidict/")),
    ("client: httpx", ("httpx/",)),
    ("loop: asyncio scheduling and socket calls", ("asyncio/", "selectors.py")),
)


def classify(raw: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        part = "other"
        for frame in reversed(stack.split(";")):
            hit = next(
                (name for name, patterns in PARTS if any(p in frame for p in patterns)), None
            )
            if hit is not None:
                part = hit
                break
        counts[part] += int(number)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--delay-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=RESULTS / "loop_profile.json")
    args = parser.parse_args()
    require_this_checkout()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed here: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        raw, result = Path(tmp) / "profile.txt", Path(tmp) / "run.json"
        run_command = [
            sys.executable, "-m", "loopscope", "run", "--scenario", "async",
            "--concurrency", str(args.users), "--delay-ms", f"{args.delay_ms:g}",
            "--duration", f"{args.seconds:g}", "--json", str(result),
        ]  # fmt: skip
        # First alone, for its CPU time (py-spy's own would count as the child's too) ...
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(run_command, check=True, env=checkout_env(), capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = json.loads(result.read_text())
        # ... then the same run under py-spy, for where that time goes.
        profile = [py_spy, "record", "--format", "raw", "--rate", str(args.rate)]
        profile += ["--output", str(raw), "--", *run_command]
        subprocess.run(profile, check=True, env=checkout_env(), capture_output=True)
        counts = classify(raw)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    theory_rps = args.users * 1000 / args.delay_ms
    busy = sum(counts.values()) - counts[IDLE]
    per_request_share = busy - counts[STARTUP]
    # Requests over the whole run (the summary counts the measured span only).
    answered = run["requests"] * run["duration_s"] / max(1e-9, run["measured_s"])
    request_cpu_s = cpu_s * per_request_share / max(1, busy)
    us_per_request = request_cpu_s / max(1.0, answered) * 1e6
    rows = [
        {
            "part": part,
            "share_of_request_cpu": round(count / per_request_share, 3),
            "us_per_request": round(us_per_request * count / per_request_share),
        }
        for part, count in counts.most_common()
        if part not in (IDLE, STARTUP)
    ]
    print(
        f"{args.users} async users x {args.delay_ms:g} ms, {args.seconds:g} s: "
        f"~{us_per_request:.0f} us of CPU per request"
    )
    for row in rows:
        print(f"  {row['us_per_request']:5d} us  {row['share_of_request_cpu']:6.1%}  {row['part']}")
    write_json(
        args.out,
        {
            "benchmark": "loop_profile",
            **machine_info(),
            "users": args.users,
            "delay_ms": args.delay_ms,
            "seconds": args.seconds,
            "throughput_ratio": round(run["throughput_rps"] / theory_rps, 3),
            "us_per_request": round(us_per_request),
            "startup_share_of_cpu": round(counts[STARTUP] / max(1, busy), 3),
            "parts": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
