"""`run --app` and `run --url`: a route of the user's own app, loaded like a demo route."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loopscope.cli import main
from loopscope.embedded_server import EmbeddedServer, ProbedApp, import_app
from loopscope.loadgen import RouteRequest, RunSettings, run_load
from tests._helpers import refused_in_one_line

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_an_async_route_of_your_app_measures_like_the_demo_async_route() -> None:
    # The shop's /products awaits a 100 ms sleep, as the demo `async` route does: served
    # here (--app) or already running (--url), the same load gives the same throughput.
    route = RouteRequest(scenario="GET /products", path="/products")
    like_the_demo = RunSettings(scenario="async", delay_ms=100, concurrency=10, duration_s=3.0)
    demo = await run_load(like_the_demo)
    mine = replace(like_the_demo, scenario=route.scenario, route=route)
    served = await run_load(replace(mine, app="examples.shop.app:app", app_dir=str(REPO)))
    async with EmbeddedServer(ProbedApp(import_app("examples.shop.app:app", REPO))) as running:
        remote = await run_load(replace(mine, target=running.url))
    for result in (served, remote):
        assert result.summary.errors == {}
        ratio = result.summary.throughput_rps / demo.summary.throughput_rps
        # The same within a busy machine's noise (both runs are bounded by the 100 ms wait).
        assert 0.75 <= ratio <= 1.25, f"{result.target}: {ratio:.2f} of the demo route"


@pytest.mark.slow
def test_run_app_names_the_line_that_holds_the_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "run.json"
    argv = ["run", "--app", "examples.shop.app:app", "--route", "/stock?product=abc"]
    assert main([*argv, "--concurrency", "3", "--duration", "2", "--json", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("LoopScope run: GET /stock of examples.shop.app:app, 3 users")
    assert "examples/shop/inventory.py:9 in count_in_warehouse()" in report
    written = json.loads(out.read_text())
    assert written["route"] == {"method": "GET", "path": "/stock", "app": "examples.shop.app:app"}
    assert written["theory"]["throughput_rps"] is None
    assert written["blocking_sites"][0]["function"] == "count_in_warehouse"
    assert written["ok"] > 0


def test_a_post_with_a_json_body_is_sent_as_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "run.json"
    argv = ["run", "--app", "examples.shop.app:app", "--route", "POST /orders"]
    body = ["--body", '{"product": "tea", "quantity": 2}', "--concurrency", "2"]
    assert main([*argv, *body, "--duration", "1.5", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["errors"] == {} and written["ok"] > 0
    capsys.readouterr()


def test_a_route_that_answers_500_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_app_500.py").write_text(
        textwrap.dedent(
            """
            from fastapi import FastAPI
            app = FastAPI()

            @app.get("/boom")
            async def boom() -> None:
                raise RuntimeError("kaput")
            """
        ),
        encoding="utf-8",
    )
    argv = ["run", "--app", "broken_app_500:app", "--app-dir", str(tmp_path), "--route", "/boom"]
    assert main([*argv, "--concurrency", "2", "--duration", "1"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("LoopScope run FAILED: 100 % of requests failed (http_5xx")
    # The app's exception, once, in a line: no traceback per request.
    assert "your app raised GET /boom: RuntimeError: kaput (at broken_app_500.py:7)" in captured.out
    assert captured.err.startswith("loopscope: no request succeeded (http_5xx")
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "--scenario", "async", "--app", "examples.shop.app:app"],
        ["run", "--app", "examples.shop.app:app"],
        ["run", "--app", "examples.shop.app:app", "--url", "http://127.0.0.1:1/x"],
        ["run", "--app", "surely_not_a_module_xyz:app", "--route", "/x"],
        ["run", "--app", "examples.shop.app:nope", "--route", "/x"],
        ["run", "--app", "examples.shop.app:app", "--route", "FETCH /x"],
        ["run", "--app", "examples.shop.app:app", "--route", "/x", "--header", "bad"],
        ["run", "--url", "http://10.1.2.3:8000/items"],
        ["run", "--url", "https://example.com/"],
        ["run", "--url", "http://127.0.0.1:99999/"],
        ["run", "--url", "ftp://example.com/", "--allow-remote"],
        ["run", "--url", "http://127.0.0.1:8000/x", "--threads", "10"],
        ["run", "--url", "http://127.0.0.1:8000/x", "--route", "/y"],
    ],
    ids=" ".join,
)
def test_bad_route_arguments_exit_2_with_one_line_and_send_nothing(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    refused_in_one_line(argv, capsys)


@pytest.mark.slow
def test_sweep_app_routes_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    argv = ["sweep", "--app", "examples.shop.app:app", "--route", "GET /products", "--route"]
    options = ["/stock", "--concurrency", "1,4", "--step-duration", "1.5"]
    assert main([*argv, *options, "--json", str(out), "--png", str(png)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("LoopScope sweep: GET /products, GET /stock of examples.shop.app:app")
    steps = json.loads(out.read_text())
    assert [(s["scenario"], s["concurrency"]) for s in steps] == [
        ("GET /products", 1),
        ("GET /products", 4),
        ("GET /stock", 1),
        ("GET /stock", 4),
    ]
    by_step = {(s["scenario"], s["concurrency"]): s for s in steps}
    # The async route scales with users; the one that blocks the loop does not, and its
    # lag is the app's (named), not the generator's.
    assert (
        by_step[("GET /products", 4)]["throughput_rps"]
        > 3 * by_step[("GET /products", 1)]["throughput_rps"]
    )
    stock = by_step[("GET /stock", 4)]
    assert stock["throughput_rps"] < 1.5 * by_step[("GET /stock", 1)]["throughput_rps"]
    assert stock["blocking_sites"][0]["function"] == "count_in_warehouse"
    assert not stock["generator_health"]["generator_limited"]
    assert png.stat().st_size > 10_000


ONE_USER = ["--concurrency", "1"]


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "--concurrency", "1"],
        ["sweep", "--app", "examples.shop.app:app", "--concurrency", "1"],
        ["sweep", "--scenarios", "async", "--app", "examples.shop.app:app", "--route", "/x"],
        ["sweep", "--scenarios", "async", "--route", "/x", "--concurrency", "1"],
        ["sweep", "--app", "nope_xyz:app", "--route", "/x", "--concurrency", "1"],
        ["sweep", "--app", "examples.shop.app:app", "--route", "/a", "--route", "/a", *ONE_USER],
    ],
    ids=" ".join,
)
def test_bad_sweep_route_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    refused_in_one_line(argv, capsys)


async def test_every_ok_record_of_a_run_is_an_answer_the_server_counted() -> None:
    """The summary counts the measured interval; `whole_run` counts every request, warm-up
    and drain included, so it equals what the server itself answered."""
    answered = 0

    async def counting_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        nonlocal answered
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.01)
        answered += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    route = RouteRequest(scenario="GET /hello", path="/hello")
    async with EmbeddedServer(ProbedApp(counting_app)) as running:
        settings = RunSettings(
            scenario=route.scenario, route=route, target=running.url, concurrency=8, duration_s=1.5
        )
        result = await run_load(settings)
    assert result.whole_run is not None
    assert result.whole_run.errors == 0 and result.whole_run.abandoned == 0
    assert result.whole_run.ok == answered
    assert result.summary.ok < answered  # the warm-up's and the drain's are left out there
