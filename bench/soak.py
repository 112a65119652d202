"""Soak: does a long run keep its memory and file descriptors flat?

Starts the real commands as child processes and samples them from outside (/proc), so
nothing here changes what is measured:

- the window: `loopscope gui --autorun SECONDS` (offscreen, "Sync vs async": 100 users on
  each of two routes, 1 s delay), for `--window-minutes` (the issue asks for 30);
- the CLI: `loopscope run --scenario async --concurrency 500 --delay-ms 200` for
  `--cli-minutes` (the issue asks for 10).

Every `--every` seconds: resident memory (VmRSS) and open file descriptors. The verdict is
"flat" when every sample after the first minute stays within 5 % of the first sample after
that minute. Results: bench/results/soak.json (or --out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _support import RESULTS, checkout_env, machine_info, positive_float, write_json

# Start-up and warm-up (imports, first allocations, connection pools) are not growth.
SETTLE_S = 60.0
FLAT_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float
    rss_mib: float
    fds: int


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def soak(command: list[str], seconds: float, every_s: float) -> dict[str, object]:
    """Run `command` (bounded by its own duration) and sample it until it exits."""
    env = dict(checkout_env(), QT_QPA_PLATFORM="offscreen")
    started = time.monotonic()
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    samples: list[Sample] = []
    deadline = started + seconds + 120  # its duration, start-up and shutdown
    try:
        while child.poll() is None and time.monotonic() < deadline:
            rss, fds = _rss_mib(child.pid), _fds(child.pid)
            if rss is not None and fds is not None:
                samples.append(Sample(round(time.monotonic() - started, 1), round(rss, 1), fds))
            try:
                child.wait(timeout=every_s)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if child.poll() is None:
            child.terminate()
        _, stderr = child.communicate(timeout=30)
    # From the end of the first minute to the end of the load (shutdown closes connections).
    settled = [s for s in samples if SETTLE_S <= s.t_s <= seconds]
    verdict: dict[str, object] = {"flat": None}
    if len(settled) >= 2:
        base = settled[0]
        rss_spread = max(abs(s.rss_mib - base.rss_mib) for s in settled) / base.rss_mib
        fd_spread = max(abs(s.fds - base.fds) for s in settled) / max(1, base.fds)
        verdict = {
            "flat": rss_spread <= FLAT_TOLERANCE and fd_spread <= FLAT_TOLERANCE,
            "rss_mib_after_settle": [base.rss_mib, settled[-1].rss_mib],
            "rss_spread": round(rss_spread, 4),
            "fds_after_settle": [base.fds, settled[-1].fds],
            "fd_spread": round(fd_spread, 4),
        }
    return {
        "command": command[1:],
        "exit_status": child.returncode,
        "stderr_tail": stderr.strip().splitlines()[-3:],
        "seconds": seconds,
        **verdict,
        "samples": [[s.t_s, s.rss_mib, s.fds] for s in samples],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window-minutes", type=positive_float, default=30.0)
    parser.add_argument("--cli-minutes", type=positive_float, default=10.0)
    parser.add_argument("--every", type=positive_float, default=5.0, help="seconds per sample")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args()
    loopscope = [sys.executable, "-m", "loopscope"]
    window_s, cli_s = args.window_minutes * 60, args.cli_minutes * 60
    runs = {
        "window": soak(
            [*loopscope, "gui", "--autorun", f"{window_s:g}", "--preset", "Sync vs async"],
            window_s,
            args.every,
        ),
        "cli": soak(
            [
                *loopscope,
                "run",
                "--scenario",
                "async",
                "--concurrency",
                "500",
                "--delay-ms",
                "200",
                "--duration",
                f"{cli_s:g}",
            ],
            cli_s,
            args.every,
        ),
    }
    for name, run in runs.items():
        rss, fds = run.get("rss_mib_after_settle"), run.get("fds_after_settle")
        print(f"{name}: exit {run['exit_status']}, RSS {rss} MiB, fds {fds}, flat: {run['flat']}")
    write_json(
        args.out,
        {
            "benchmark": "soak",
            **machine_info(),
            "tolerance": FLAT_TOLERANCE,
            "settle_s": SETTLE_S,
            "runs": runs,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
