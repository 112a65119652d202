"""What every `loopscope` subcommand shares: exit codes, one-line errors, argument types, and
the workload options of `run` and `sweep`."""

from __future__ import annotations

import argparse
import math
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from loopscope.embedded_server import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    MAX_CPU_ITERATIONS,
    MAX_DELAY_MS,
    MAX_FANOUT,
    MAX_THREADS,
    MAX_WORKERS,
)
from loopscope.loadgen import Workload

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
MAX_DURATION_S = 3600.0
# A comma-separated list of levels longer than this is a typo, not a sweep.
MAX_LIST_ITEMS = 50
# A run (or a sweep step) with more than this fraction of its requests failed exits 1: its
# figures describe the failures, not the server (`--max-error-rate` changes it).
DEFAULT_MAX_ERROR_RATE = 0.1

T = TypeVar("T")


class UsageError(Exception):
    """Bad arguments: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One readable line instead of argparse's usage block.
        raise UsageError(message)


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low} and {high}, got {value}"
            )
        return value

    return parse


def bounded_float(
    low: float, high: float, what: str, *, open_low: bool = False
) -> Callable[[str], float]:
    """An argparse type: a number in [low, high] (or (low, high] with open_low)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if math.isnan(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low:g} and {high:g}, got {text}"
            )
        return value

    return parse


def add_bounded_int(
    parser: argparse.ArgumentParser, flag: str, low: int, high: int, **options: Any
) -> None:
    """`parser.add_argument(flag, **options)` for a whole number in [low, high] (`bounded_int`,
    its errors naming the flag)."""
    parser.add_argument(flag, type=bounded_int(low, high, flag), **options)


def add_bounded_float(
    parser: argparse.ArgumentParser,
    flag: str,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    **options: Any,
) -> None:
    """`parser.add_argument(flag, **options)` for a number in [low, high], or (low, high]
    with open_low (`bounded_float`, its errors naming the flag)."""
    parser.add_argument(flag, type=bounded_float(low, high, flag, open_low=open_low), **options)


def comma_list(item: Callable[[str], T], what: str) -> Callable[[str], tuple[T, ...]]:
    """An argparse type: `a,b,c`, each parsed by `item`; at least one, no empty items."""

    def parse(text: str) -> tuple[T, ...]:
        parts = [part.strip() for part in text.split(",")]
        if not text.strip() or any(not part for part in parts):
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got {text!r}")
        if len(parts) > MAX_LIST_ITEMS:
            raise argparse.ArgumentTypeError(f"{what} takes at most {MAX_LIST_ITEMS} items")
        return tuple(item(part) for part in parts)

    return parse


def add_workload_options(parser: argparse.ArgumentParser, *, per_step: bool) -> None:
    """The options `run` and `sweep` share: what each request asks of the server, the
    thread pool, the warm-up, the JSON/CSV outputs and, last, where the demo server runs
    (`add_placement_options`): declared once, so the two commands cannot drift apart.
    `per_step`: the sweep's wording (warm-up and pool per step)."""
    add_bounded_float(
        parser,
        "--delay-ms",
        0,
        MAX_DELAY_MS,
        default=200.0,
        help="simulated I/O time per request, in milliseconds",
    )
    warmup_of = "each step" if per_step else "the run"
    add_bounded_float(
        parser,
        "--warmup",
        0,
        MAX_DURATION_S,
        dest="warmup_s",
        metavar="WARMUP",
        default=None,
        help=f"seconds of {warmup_of} excluded from the summary (default: min(1, length/5))",
    )
    add_bounded_float(
        parser,
        "--drain",
        0,
        MAX_DURATION_S,
        dest="drain_s",
        default=None,
        metavar="SECONDS",
        help="at the end of "
        + ("each step" if per_step else "the run")
        + ", await the requests it still owes this long at most, so the slowest are measured "
        "too; what is cut off is reported as censored (default: open loop max(10, duration), "
        "closed loop 2 s + twice the delay, at most 10)",
    )
    add_bounded_int(
        parser,
        "--threads",
        1,
        MAX_THREADS,
        default=None,
        help="thread-pool tokens for def routes (FastAPI's default: 40)"
        + (", reset before every step" if per_step else ""),
    )
    add_bounded_int(
        parser,
        "--iterations",
        1,
        MAX_CPU_ITERATIONS,
        default=DEFAULT_CPU_ITERATIONS,
        help="CPU work per request (cpu-* scenarios)",
    )
    add_bounded_int(
        parser,
        "--fanout",
        1,
        MAX_FANOUT,
        default=DEFAULT_FANOUT,
        help="downstream calls per request (fanout-*)",
    )
    add_bounded_float(
        parser,
        "--max-error-rate",
        0,
        1,
        default=DEFAULT_MAX_ERROR_RATE,
        metavar="FRACTION",
        help=f"exit 1 when more than this fraction of the requests of "
        f"{'a step' if per_step else 'the run'} failed, abandoned ones included "
        f"(default {DEFAULT_MAX_ERROR_RATE:g})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write a list of run objects here" if per_step else "write the result as JSON here",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="write one CSV row per step here" if per_step else "write one CSV row per 1 s window",
    )
    add_placement_options(parser)


def add_placement_options(parser: argparse.ArgumentParser) -> None:
    """Where the demo server runs: `--server-process` and `--workers N` (run, sweep, gui)."""
    parser.add_argument(
        "--server-process",
        action="store_true",
        help="serve the demo routes from a process of their own (uvicorn, started and "
        "stopped here) instead of this process's event loop",
    )
    add_bounded_int(
        parser,
        "--workers",
        1,
        MAX_WORKERS,
        default=None,
        help="with the server in its own process: worker processes, each with its own GIL, "
        "loop and thread pool (implies --server-process; default 1)",
    )


def placement_from(args: argparse.Namespace, *, elsewhere: bool) -> tuple[bool, int]:
    """(server in its own process, workers) as the options ask. `elsewhere`: the load goes
    to a server other than the demo's (--target, --app, --url), which a placement cannot
    move: UsageError."""
    server_process = bool(args.server_process) or args.workers is not None
    if server_process and elsewhere:
        raise UsageError(
            "--server-process and --workers start LoopScope's demo server: "
            "not with --target, --app or --url"
        )
    return server_process, args.workers or 1


def fields_from(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The options of these `dest`s as keywords: an option's `dest` is the name of the
    field it sets, so a dataclass is built from the options without naming each twice."""
    return {name: getattr(args, name) for name in names}


# The Workload fields the options set as they are (`workload_from`); its placement and
# its open loop's bound are worked out.
_WORKLOAD_OPTIONS = (
    "delay_ms",
    "warmup_s",
    "drain_s",
    "threads",
    "iterations",
    "fanout",
    "app",
    "app_dir",
    "startup_timeout_s",
)


def workload_from(
    args: argparse.Namespace, *, elsewhere: bool, max_in_flight: int | None
) -> Workload:
    """The workload `add_workload_options` (its placement options too) and the app options
    parsed (`placement_from`: `elsewhere` and its UsageError); max_in_flight: the open
    loop's bound, which `run` and `sweep` take from options of their own."""
    server_process, workers = placement_from(args, elsewhere=elsewhere)
    return Workload(
        **fields_from(args, _WORKLOAD_OPTIONS),
        max_in_flight=max_in_flight,
        server_process=server_process,
        workers=workers,
    )


# A run must measure at least this long after its warm-up: shorter, no 1 s window closes
# and the figures are noise (`--duration 1e-9` used to run and blame the target).
MIN_MEASURED_S = 0.5


def check_measured_period(
    duration_s: float, warmup_s: float | None, rate: float | None, *, duration_option: str
) -> None:
    """Refuse (UsageError) a run or step that cannot measure anything."""
    warmup = min(1.0, duration_s / 5) if warmup_s is None else warmup_s
    if warmup >= duration_s:
        raise UsageError(f"--warmup must be shorter than {duration_option}")
    measured = duration_s - warmup
    if measured < MIN_MEASURED_S:
        raise UsageError(
            f"{duration_option} {duration_s:g} with a {warmup:g} s warm-up measures "
            f"{measured:g} s; at least {MIN_MEASURED_S:g} s must be measured"
        )
    if rate is not None and rate * measured < 1:
        raise UsageError(
            f"at {rate:g} requests/s not one request starts in the {measured:g} s measured; "
            f"give a rate of at least {1 / measured:.3g}"
        )


def check_output_paths(outputs: dict[str, Path | None]) -> None:
    """Before any load starts: every output (option -> path) can be written, is a regular
    file or does not exist yet (a FIFO, a device or a socket is refused unopened), and no
    two options name the same file. UsageError (one line) otherwise. A file that did not
    exist is created to prove it and removed again."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise UsageError(f"{seen[resolved]} and {option} name the same file: {path}")
        seen[resolved] = option
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
        if mode is not None and stat.S_ISDIR(mode):
            raise UsageError(f"{option} {path} is a folder; give a file name")
        if mode is not None and not stat.S_ISREG(mode):
            # Never opened: a FIFO would block until a reader came, a device takes anything.
            raise UsageError(f"{option} {path} is not a regular file; give a file name")
        existed = mode is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
        if not existed:
            path.unlink(missing_ok=True)


def write_outputs(writers: dict[str, tuple[Path | None, Callable[[Path], None]]]) -> bool:
    """Write every asked-for output (option -> (path, writer)); one that fails is reported
    in one line and does not stop the others. True when all were written."""
    ok = True
    for option, (path, write) in writers.items():
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            print(
                f"loopscope: could not write {option} {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            ok = False
    return ok
