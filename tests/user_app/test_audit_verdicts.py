"""The audit's verdicts on small apps written the way the mistakes are made (apps/judge_apps.py):
evidence first, bounded time, the app's own output kept out of the report."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path

import pytest

from loopscope.cli import main
from loopscope.embedded_server import (
    BlockSite,
    CodeSite,
    Operation,
    ProbedApp,
    import_app,
    operations,
)
from loopscope.loadgen.advice import advice
from loopscope.loadgen.audit import (
    DEF_CPU_BUSY,
    VERDICT_ASYNC,
    VERDICT_BLOCKS,
    VERDICT_CPU,
    VERDICT_FAILS,
    VERDICT_THREAD_POOL,
    VERDICT_UNKNOWN,
    AuditSettings,
    audit_routes,
)
from loopscope.loadgen.health import judge

APPS = Path(__file__).resolve().parent / "apps"
SOURCE = (APPS / "judge_apps.py").read_text().splitlines()
SLEEP_LINE = next(i for i, line in enumerate(SOURCE, 1) if "time.sleep(seconds)" in line)
SHORT = AuditSettings(levels=(1, 8), duration_s=1.5, warmup_s=0.5)


def _app(name: str) -> ProbedApp:
    return ProbedApp(import_app(f"judge_apps:{name}", APPS))


def _route(name: str, label: str) -> Operation:
    found = operations(import_app(f"judge_apps:{name}", APPS))
    (operation,) = [op for op in found if op.label == label]
    return operation


@pytest.mark.slow
def test_a_blocking_helper_is_named_at_every_length_and_the_audit_stays_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # time.sleep(0.05), (0.3) and (1) in an async def route's helper: each "blocks the event
    # loop" at the helper's line, whatever the errors a held loop causes; exit 1.
    monkeypatch.chdir(tmp_path)
    routes = ["GET /sleep/short", "GET /sleep/medium", "GET /sleep/second"]
    argv = ["audit", "judge_apps:blocking", "--app-dir", str(APPS), "--levels", "1,8"]
    began = time.perf_counter()
    status = main([*argv, *[a for r in routes for a in ("--route", r)], "--duration", "1"])
    took = time.perf_counter() - began
    assert status == 1
    text = capsys.readouterr().out
    for label in routes:
        assert f"| `{label}` | async def | **blocks the event loop**" in text
    assert f"judge_apps.py:{SLEEP_LINE}" in text
    assert "use `await asyncio.sleep(...)`" in text
    # Bounded: per level its duration and about two holds of the loop (the one running at
    # its end, the one the gate let in), not one per request queued behind it.
    held_s = 0.05 + 0.3 + 1.0
    assert took < len(routes) * 2 * 1 + 2 * 2 * held_s + 10
    assert not (tmp_path / "loopscope-app.log").exists()  # the app printed nothing


@pytest.mark.slow
def test_a_five_second_hold_blocks_too_and_ends_within_one_hold(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    argv = ["audit", "judge_apps:blocking", "--app-dir", str(APPS), "--route", "GET /sleep/long"]
    began = time.perf_counter()
    status = main([*argv, "--levels", "1", "--duration", "1", "--json", str(out)])
    took = time.perf_counter() - began
    assert status == 1
    (route,) = json.loads(out.read_text())["routes"]
    assert route["verdict"] == VERDICT_BLOCKS
    site = route["blocking_sites"][0]
    assert (site["line"], site["function"]) == (SLEEP_LINE, "fetch_report")
    assert "asyncio.sleep" in site["advice"]
    assert took < 14  # the level (1 s), one 5 s hold, start and stop


@pytest.mark.slow
async def test_a_trivial_def_route_is_thread_pool_and_a_computing_one_cpu_bound() -> None:
    # The process's CPU includes the generator (~1 core at any load): only the route's
    # own threads may decide.
    hello_route = [_route("trivial", "GET /hello")]
    trivial = await audit_routes(_app("trivial"), "trivial", hello_route, SHORT)
    (hello,) = trivial.routes
    assert hello.verdict == VERDICT_THREAD_POOL
    # NaN where one thread cannot read another's CPU clock (platform_support): unknown.
    shares = [level.route_cpu_share for level in hello.levels]
    assert all(math.isnan(share) or share < DEF_CPU_BUSY for share in shares), shares
    one = AuditSettings(levels=(1,), duration_s=1.5, warmup_s=0.5)
    computing = await audit_routes(
        _app("computing"), "computing", [_route("computing", "GET /crunch")], one
    )
    (crunch,) = computing.routes
    if math.isnan(crunch.levels[0].route_cpu_share):
        pytest.skip("no per-thread CPU clocks on this platform")
    assert crunch.verdict == VERDICT_CPU
    assert not crunch.blocks_loop  # a def route holds a thread, not the loop


@pytest.mark.slow
async def test_a_slow_route_is_measured_not_failed() -> None:
    # 1.2 s per answer, longer than the level's 1 s: the level stretches to two answers.
    one = AuditSettings(levels=(1,), duration_s=1.0, warmup_s=0.25)
    report = await audit_routes(_app("slow"), "slow", [_route("slow", "GET /report")], one)
    (route,) = report.routes
    assert route.verdict == VERDICT_ASYNC
    (level,) = route.levels
    assert level.requests >= 1 and not level.errors
    assert level.latency_p50_ms == pytest.approx(1200, rel=0.3)
    assert level.wall_s < 2 * 1.2 + 1.0 + 1.5


@pytest.mark.slow
async def test_an_app_that_raises_shows_its_exception_per_route() -> None:
    chosen = [_route("raising", "GET /broken"), _route("raising", "GET /fine")]
    one = AuditSettings(levels=(1,), duration_s=1.5, warmup_s=0.5)
    report = await audit_routes(_app("raising"), "raising", chosen, one)
    broken, fine = report.routes
    assert broken.verdict == VERDICT_FAILS
    ((what, count),) = broken.exceptions
    assert what.startswith("KeyError: 'missing key' (at judge_apps.py:")
    assert count > 0
    assert "KeyError" in broken.detail
    assert fine.exceptions == ()
    markdown = report.to_markdown()
    assert "## What the app raised" in markdown
    assert "`KeyError: 'missing key'" in markdown
    written = broken.to_json()["exceptions"]
    assert isinstance(written, list) and written[0]["what"] == what


async def test_a_route_that_drops_its_connections_is_not_stretched_to_the_limit() -> None:
    # A streaming answer that raises once started: every request ends as a `protocol`
    # error at once. Those are answers for the level's length, which stays its duration.
    one = AuditSettings(levels=(1, 2), duration_s=1.0, warmup_s=0.25)
    began = time.perf_counter()
    report = await audit_routes(_app("raising"), "raising", [_route("raising", "GET /stream")], one)
    took = time.perf_counter() - began
    (route,) = report.routes
    assert route.verdict == VERDICT_FAILS
    assert "FileNotFoundError" in route.detail
    assert all(level.wall_s < 1.0 + 2.0 for level in route.levels), route.levels
    assert took < 12  # was two levels of max_level_s (30 s each)


@pytest.mark.slow
def test_the_apps_prints_go_to_a_log_file_and_stdout_keeps_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "app.log"
    argv = ["audit", "judge_apps:noisy", "--app-dir", str(APPS), "--levels", "1"]
    status = main([*argv, "--duration", "1", "--app-log", str(log)])
    assert status == 0
    captured = capsys.readouterr()
    # Quoted once in the summary, never printed as the app's own lines.
    printed = set(captured.out.splitlines()) | set(captured.err.splitlines())
    assert not printed & {"handling /chatty", "to stderr as well"}
    assert captured.out.startswith("# LoopScope audit of `judge_apps:noisy`")
    assert f"`{log}`" in captured.out
    assert "x `handling /chatty`" in captured.out
    assert "handling /chatty" in log.read_text()
    # Put back for whatever runs next in this process.
    assert sys.stdout is not None and not sys.stdout.closed
    print("after the audit")
    assert capsys.readouterr().out == "after the audit\n"


@pytest.mark.slow
async def test_an_interrupted_audit_keeps_its_levels_and_says_unknown() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def progress(what: str) -> None:
        if what.endswith(": 8 users"):
            loop.call_later(0.8, stop.set)  # during the second level

    settings = AuditSettings(levels=(1, 8, 32), duration_s=1.5, warmup_s=0.5)
    report = await audit_routes(
        _app("trivial"),
        "trivial",
        [_route("trivial", "GET /hello")],
        settings,
        progress=progress,
        stop=stop,
    )
    assert report.partial and not report.blocks_loop
    (hello,) = report.routes
    assert hello.verdict == VERDICT_UNKNOWN
    assert [level.users for level in hello.levels] == [1, 8]
    assert hello.levels[1].partial and not hello.levels[0].partial
    assert report.to_json()["verdict"] == "unknown"
    assert "Verdict: **unknown (interrupted)**" in report.to_markdown()


@pytest.mark.slow
async def test_an_interrupted_audit_keeps_a_block_a_measured_level_proved() -> None:
    stop = asyncio.Event()

    def progress(what: str) -> None:
        if what.endswith(": 8 users"):
            stop.set()  # the first level is measured, the second is not

    report = await audit_routes(
        _app("blocking"),
        "blocking",
        [_route("blocking", "GET /sleep/medium")],
        AuditSettings(levels=(1, 8), duration_s=1.5, warmup_s=0.5),
        progress=progress,
        stop=stop,
    )
    assert report.partial and report.blocks_loop
    (medium,) = report.routes
    assert medium.verdict == VERDICT_BLOCKS
    assert [level.users for level in medium.levels] == [1]
    assert "a route blocks the event loop" in report.to_markdown()


@pytest.mark.slow
def test_run_against_a_held_loop_ends_within_its_duration_drain_and_one_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20 users on an async route holding the loop 1 s: each request queued at the end
    # would hold it once more (20 s) without the closing gate.
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--app", "judge_apps:blocking", "--app-dir", str(APPS)]
    began = time.perf_counter()
    out = tmp_path / "run.json"
    load = ["--route", "GET /sleep/second", "--concurrency", "20", "--duration", "2"]
    main([*argv, *load, "--json", str(out)])
    took = time.perf_counter() - began
    drain_s = 2.4  # the default drain limit of a route: 2 s + 2 x 200 ms
    assert took < 2 + drain_s + 1.0 + 6
    # The requests queued behind the held loop were answered 503 unrun, and the JSON says so.
    assert json.loads(out.read_text())["turned_away"] > 0
    text = capsys.readouterr().out
    (generator,) = [line for line in text.splitlines() if "generator:" in line]
    assert "healthy" not in generator
    assert "your code holding the loop" in generator
    assert f"judge_apps.py:{SLEEP_LINE}" in text


@pytest.mark.slow
def test_a_sweep_against_a_held_loop_ends_each_step_within_its_duration_drain_and_one_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `run`: 20 users on a route holding the loop 1 s would queue 20 s behind each step.
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "--app", "judge_apps:blocking", "--app-dir", str(APPS)]
    began = time.perf_counter()
    status = main(
        [*argv, "--route", "GET /sleep/second", "--concurrency", "10,20", "--step-duration", "2"]
    )
    took = time.perf_counter() - began
    text = capsys.readouterr().out
    drain_s = 2.4  # the default drain limit of a route: 2 s + 2 x 200 ms
    assert took < 2 * (2 + drain_s + 1.0) + 6, text
    assert status == 0, text
    rows = [line.split() for line in text.splitlines() if line.startswith("  GET /sleep/second")]
    # Both steps measured: the gate the first step closed is open again for the second.
    assert [row[2] for row in rows] == ["10", "20"]
    assert all(float(row[3]) > 0 for row in rows), text
    (turned_away,) = [line for line in text.splitlines() if "GET /sleep/second c=20: " in line]
    assert "c=10: " in turned_away, text


@pytest.mark.slow
def test_run_keeps_the_apps_prints_in_the_log_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--app", "judge_apps:noisy", "--app-dir", str(APPS), "--route", "GET /chatty"]
    assert main([*argv, "--concurrency", "2", "--duration", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "handling /chatty" not in printed
    assert any("loopscope-app.log" in line for line in printed)
    assert "handling /chatty" in (tmp_path / "loopscope-app.log").read_text()
    # --app-log names another file: the app's output goes there, and the report says so.
    log = tmp_path / "logs" / "chatty.log"
    assert main([*argv, "--concurrency", "2", "--duration", "1", "--app-log", str(log)]) == 0
    text = capsys.readouterr().out
    assert "handling /chatty" not in text.splitlines()
    assert str(log) in "".join(text.split())  # the line may be wrapped inside the path
    assert "to stderr as well" in log.read_text()


def test_a_loop_held_by_design_is_named_not_called_healthy() -> None:
    verdict = judge(cpu_fraction=0.3, loop_lag_p99_ms=1000.0, scenarios=("blocking",))
    assert not verdict.generator_limited
    assert verdict.lag_cause == "the route holding the loop"
    assert verdict.to_json()["loop_lag_cause"] == verdict.lag_cause
    assert judge(cpu_fraction=0.3, loop_lag_p99_ms=5.0, scenarios=("blocking",)).lag_cause is None


def _site(code: str, calls_into: str = "", cpu_s: float = 0.0) -> BlockSite:
    site = CodeSite("app.py", 3, "handler", code, calls_into)
    return BlockSite("GET /x", site, stalls=1, total_s=1.0, max_s=1.0, cpu_s=cpu_s, observed_s=1.0)


def test_each_blocking_site_says_what_to_do_from_what_the_stack_shows() -> None:
    assert "await asyncio.sleep" in advice(_site("time.sleep(2)"))
    requests_get = advice(_site("r = fetch(url)", calls_into="requests.api"))
    assert "`requests`" in requests_get and "httpx.AsyncClient" in requests_get
    assert "run_in_threadpool" in requests_get and "`def`" in requests_get
    assert "aiosqlite" in advice(_site("rows = sqlite3.connect(path).execute(q)"))
    assert "process pool" in advice(_site("total = rank(items)", cpu_s=0.9))
    # A call it cannot name gets the general advice, not a guess.
    unknown = advice(_site("value = client.get_value()"))
    assert unknown.startswith("a call that waits without `await`")
