"""Inputs checked before any load starts (one line, exit 2), and a user's app that will not
start: bounded, and ended by the first Ctrl+C or SIGTERM."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from loopscope._options import UsageError, check_output_paths
from loopscope._sweep_png import SweepPngError, render_png_in_child
from tests._helpers import refused_in_one_line, start_loopscope

URL = "http://127.0.0.1:9/x"  # never reached: every case here is refused first


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--header", "X A: 1"], "not an HTTP header name"),
        (["--header", "X-(A): 1"], "not an HTTP header name"),
        (["--header", "X-A: 1\r\nX-Injected: 2"], "line break"),
        (["--header", "X-A: a\x00b"], "line break or NUL"),
        (["--header", "X-A: caf\u00e9"], "must be ASCII"),
        (["--body", "not json"], "--body is not JSON"),
        (["--body", "x", "--body-type", "plain"], "media type"),
        (["--body-type", "text/plain"], "--body-type goes with --body"),
        (
            ["--body", "x", "--body-type", "text/plain", "--header", "content-type: a/b"],
            "not both",
        ),
    ],
)
def test_bad_headers_and_bodies_are_refused_in_one_line(
    extra: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert says in refused_in_one_line(["run", "--url", URL, "--duration", "1", *extra], capsys)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (URL + "?q=" + "a" * 9000, "servers refuse request targets past 8,192 bytes"),
        (URL + "/caf\u00e9", "percent-encode it, e.g. /x/caf%C3%A9"),
        (URL + "/a b", "percent-encode it"),
        (URL + "/a/../b", "would go out as /x/b"),
    ],
)
def test_targets_that_cannot_go_out_as_typed_arerefused_in_one_line(
    url: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert says in refused_in_one_line(["run", "--url", url, "--duration", "1"], capsys)


def test_a_body_of_another_type_is_sent_with_its_content_type() -> None:
    from loopscope._route_options import parse_route
    from loopscope.cli import build_parser

    def parsed(*extra: str) -> tuple[tuple[str, str], ...]:
        args = build_parser().parse_args(["run", "--url", URL, *extra])
        return parse_route("POST /x", args).headers

    assert parsed("--body", "a=1", "--body-type", "application/x-www-form-urlencoded") == (
        ("Content-Type", "application/x-www-form-urlencoded"),
    )
    # An explicit Content-Type header counts as well; JSON stays the default.
    assert parsed("--body", "<a/>", "--header", "Content-Type: text/xml") == (
        ("Content-Type", "text/xml"),
    )
    assert parsed("--body", '{"a": 1}') == (("Content-Type", "application/json"),)


APP = """
    from fastapi import FastAPI
    from starlette.staticfiles import StaticFiles

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.mount("/static", StaticFiles(directory=__import__("os").path.dirname(__file__)))
"""


def _app(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return f"{name}:app"


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_unknown_route_of_the_app_is_refused_before_any_load(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _app(tmp_path, "catalogue", APP)
    level = ["--duration", "1"] if command == "run" else ["--concurrency", "1"]
    argv = [command, "--app", app, "--app-dir", str(tmp_path), *level]
    err = refused_in_one_line([*argv, "--route", "GET /nothing/here"], capsys)
    assert "--route GET /nothing/here is not a route of the app" in err
    err = refused_in_one_line([*argv, "--route", "DELETE /items/1"], capsys)
    assert "the app takes GET there, not DELETE" in err


def test_a_concrete_path_of_a_template_route_is_known() -> None:
    from loopscope._app_checks import check_route_known
    from loopscope._route_options import parse_route
    from loopscope.cli import build_parser
    from loopscope.embedded_server import import_app

    app = import_app("examples.shop.app:app", Path(__file__).resolve().parents[1])
    args = build_parser().parse_args(["run", "--url", URL])
    check_route_known(app, parse_route("GET /products?limit=3", args))
    with pytest.raises(UsageError):
        check_route_known(app, parse_route("GET /products/3", args))


def test_template_and_mounted_routes_pass(tmp_path: Path) -> None:
    from loopscope._app_checks import check_route_known
    from loopscope._route_options import parse_route
    from loopscope.cli import build_parser
    from loopscope.embedded_server import import_app

    _app(tmp_path, "catalogue2", APP)
    app = import_app("catalogue2:app", tmp_path)
    args = build_parser().parse_args(["run", "--url", URL])
    check_route_known(app, parse_route("GET /items/17", args))
    check_route_known(app, parse_route("GET /static/catalogue2.py", args))  # a mounted app


@pytest.mark.timeout(60)
def test_outputs_that_are_not_regular_files_are_refused_unopened(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opened for writing, it would block until a reader came
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock"))
    try:
        for path in (fifo, Path("/dev/null"), tmp_path / "sock"):
            with pytest.raises(UsageError, match="is not a regular file"):
                check_output_paths({"--json": path})
    finally:
        listening.close()
    check_output_paths({"--json": tmp_path / "new.json"})  # a file that does not exist yet
    assert not (tmp_path / "new.json").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["run", "audit"])
def test_an_app_log_that_is_not_a_regular_file_is_refused_before_the_import(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opened for writing, it would block until a reader came
    # An app that does not import: the log's path is checked first, before the app's import.
    app = ["--app", "nope_xyz:app", "--route", "GET /"] if command == "run" else ["nope_xyz:app"]
    err = refused_in_one_line([command, *app, "--app-log", str(fifo)], capsys)
    assert "--app-log" in err and "is not a regular file" in err
    err = refused_in_one_line([command, *app, "--app-log", str(tmp_path)], capsys)
    assert "--app-log" in err and "is a folder" in err
    assert not (tmp_path / "loopscope-app.log").exists()


def test_run_app_log_goes_with_app(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused_in_one_line(["run", "--url", URL, "--app-log", "x.log"], capsys)
    assert "--app-log goes with --app" in err


FAILING_RENDERER = """
    import sys
    with open(sys.argv[2], "wb") as out:
        out.write(b"\\x89PNG half a picture")
    sys.exit("No space left on device")
"""


def test_a_png_that_fails_half_written_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_png.py").write_text(textwrap.dedent(FAILING_RENDERER), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "pictures" / "sweep.png"
    with pytest.raises(SweepPngError, match="No space left on device"):
        render_png_in_child({}, out, module="half_png", bundle_command="-")
    assert list(out.parent.iterdir()) == []


def test_serve_fd_that_is_not_a_listening_socket_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    closed = os.open(tmp_path, os.O_RDONLY)
    os.close(closed)
    assert "Bad file descriptor" in refused_in_one_line(["serve", "--fd", str(closed)], capsys)
    with (tmp_path / "file").open("w") as file:
        assert "is not a socket" in refused_in_one_line(
            ["serve", "--fd", str(file.fileno())], capsys
        )
    with socket.socket() as unbound:
        err = refused_in_one_line(["serve", "--fd", str(unbound.fileno())], capsys)
        assert "is not a listening TCP socket" in err


# --- a user's app that will not start: real processes ------------------------------------

SLEEPS_ON_THE_LOOP = """
    import contextlib, time
    from fastapi import FastAPI

    @contextlib.asynccontextmanager
    async def lifespan(app):
        print("starting", flush=True)
        time.sleep(300)  # holds the event loop: no signal handler of the loop can run
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def root() -> dict[str, str]:
        return {}
"""

AWAITS_FOREVER = SLEEPS_ON_THE_LOOP.replace(
    "time.sleep(300)  # holds the event loop: no signal handler of the loop can run",
    "await __import__('asyncio').Event().wait()",
)

SPINS_AT_IMPORT = """
    print("starting", flush=True)
    while True:
        pass
"""

EXITS_AT_IMPORT = """
    import sys
    sys.exit(3)
"""


def _start(folder: Path, app: str, *extra: str) -> subprocess.Popen[str]:
    argv = ["run", "--app", app, "--app-dir", str(folder), "--route", "GET /", "--duration", "5"]
    # cwd: where the app's own output goes (loopscope-app.log).
    return start_loopscope(*argv, *extra, cwd=folder)


def _wait_for(
    process: subprocess.Popen[str], needle: str, folder: Path, timeout_s: float = 60
) -> None:
    """Until the app says `needle`: on stdout while it imports, in the app's log file
    (loopscope-app.log in the process's folder) once LoopScope serves it."""
    assert process.stdout is not None
    log = folder / "loopscope-app.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if needle in line:
                return
            assert line, f"the process ended before it said {needle!r}"
        if log.exists() and needle in log.read_text(errors="replace"):
            return
    pytest.fail(f"no {needle!r} on stdout or in {log} within {timeout_s} s")


def _finish(process: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, float]:
    """(exit status, stderr, seconds it took to end)."""
    start = time.monotonic()
    try:
        _, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, err, time.monotonic() - start


@pytest.mark.parametrize(
    ("source", "sig", "status"),
    [
        (SLEEPS_ON_THE_LOOP, signal.SIGINT, 130),
        (SLEEPS_ON_THE_LOOP, signal.SIGTERM, 143),
        (AWAITS_FOREVER, signal.SIGINT, 130),
        (SPINS_AT_IMPORT, signal.SIGTERM, 143),
    ],
    ids=["sleeps-SIGINT", "sleeps-SIGTERM", "awaits-SIGINT", "import-SIGTERM"],
)
def test_the_first_signal_ends_a_start_up_that_does_not_finish(
    source: str, sig: signal.Signals, status: int, tmp_path: Path
) -> None:
    process = _start(tmp_path, _app(tmp_path, "stuck", source))
    _wait_for(process, "starting", tmp_path)
    process.send_signal(sig)
    returncode, err, took = _finish(process, timeout_s=30)
    assert returncode == status, err
    assert took < 5, f"{took:.1f} s after the signal"  # about 1 s; generous for CI
    assert "Traceback" not in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("source", "status", "says"),
    [
        (SPINS_AT_IMPORT, 2, "loopscope: error: importing 'slow' did not finish within 1 s"),
        (AWAITS_FOREVER, 1, "loopscope: the app's start-up (its lifespan) did not finish"),
        (EXITS_AT_IMPORT, 2, "loopscope: error: importing 'slow' called sys.exit(3)"),
    ],
    ids=["import", "lifespan", "sys.exit"],
)
def test_a_start_up_past_its_limit_is_one_line(
    source: str, status: int, says: str, tmp_path: Path
) -> None:
    process = _start(tmp_path, _app(tmp_path, "slow", source), "--startup-timeout", "1")
    returncode, err, _ = _finish(process, timeout_s=60)
    assert returncode == status, err
    assert err.startswith(says) and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "route",
    [[], ["--route", "GET /?typed=1"]],
    # The pre-flight serves the app to fill in values; a typed request skips it.
    ids=["pre-flight", "audit"],
)
def test_an_audits_start_up_past_its_limit_is_one_line(route: list[str], tmp_path: Path) -> None:
    # As `run` above: the lifespan start-up is bounded by --startup-timeout too.
    app = _app(tmp_path, "slow", AWAITS_FOREVER)
    argv = ["audit", app, "--app-dir", str(tmp_path), *route, "--startup-timeout", "1"]
    process = start_loopscope(*argv, cwd=tmp_path)
    returncode, err, took = _finish(process, timeout_s=60)
    assert returncode == 1, err
    says = "loopscope: the app's start-up (its lifespan) did not finish within 1 s"
    assert err.startswith(says) and err.count("\n") == 1, err
    assert took < 9, f"{took:.1f} s"  # 10 s was the embedded server's own default


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_gui_autorun_writes_what_it_measured(
    sig: signal.Signals, status: int, tmp_path: Path
) -> None:
    out, picture = tmp_path / "figures.json", tmp_path / "window.png"
    argv = ["gui", "--preset", "Sync vs async", "--autorun", "120"]
    # The window says when it is shown (to stderr): then the autorun is on its way.
    env = {"QT_QPA_PLATFORM": "offscreen", "LOOPSCOPE_STARTUP_T0": "0"}
    process = start_loopscope(*argv, "--json", str(out), "--screenshot", str(picture), env=env)
    assert process.stderr is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        assert line, process.communicate()
        if "window shown" in line:
            break
    process.send_signal(sig)
    returncode, err, took = _finish(process, timeout_s=60)
    assert returncode == status, err
    assert f"interrupted by {sig.name}: partial result; wrote --json" in err
    assert json.loads(out.read_text())["partial"] is True
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert took < 30
