"""The "Your app" panel on a real window: the example shop served on a real embedded server,
real load, the real BlockWatch; offscreen."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_users
from loopscope.loadgen import _runner as runner
from loopscope.loadgen.health import LOOP_LAG_LIMIT_MS, HealthVerdict
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window

SHOP = "examples.shop.app:app"
REPO = Path(__file__).resolve().parents[2]


async def load_shop(qtbot: QtBot, window: Any) -> None:
    """As a user does: type the app, press Load, wait for its routes."""
    panel = window.own_panel
    panel.app_spec.setText(SHOP)
    qtbot.mouseClick(panel.load, Qt.MouseButton.LeftButton)
    await wait_until(lambda: window.session.own is not None, what="the shop loaded")
    await wait_until(lambda: panel.routes.isEnabled(), what="the route picker filled")


def only_route(window: Any) -> None:
    """Untick the demo's endpoints: the user's route alone is under load."""
    for check in window.controls.scenario_checks.values():
        check.setChecked(False)


def test_loading_the_shop_lists_its_routes_from_its_schema(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        await load_shop(qtbot, window)
        panel = window.own_panel
        labels = [panel.routes.itemText(i).split(":")[0] for i in range(panel.routes.count())]
        assert labels == [
            "GET /products",
            "GET /invoice",
            "GET /stock",
            "GET /recommendations",
            "POST /orders",
        ]
        # The schema's defaults are filled in, editable.
        assert (panel.method.currentText(), panel.target.text()) == ("GET", "/products?limit=10")
        panel.routes.setCurrentIndex(labels.index("GET /stock"))
        assert panel.target.text() == "/stock?product=product-1"
        assert SHOP in panel.message.text()
        assert "5 routes" in panel.message.text()
        await close_window(window)

    run_on_qt_loop(body())


def test_a_route_of_the_shop_runs_as_a_series_of_the_charts(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        await load_shop(qtbot, window)
        panel, session = window.own_panel, window.session
        window.controls.users.setValue(position_from_users(5))
        panel.under_load.setChecked(True)  # GET /products, picked first
        assert session.route is not None and session.route.scenario == "GET /products"
        assert session.endpoints()[-1] == "GET /products"
        window.toggle_running()
        # Server side: its in-flight probe counts the route's 5 users.
        await wait_until(
            lambda: session.measurement.in_flight().get("GET /products") == 5,
            what="5 users in flight",
        )
        # The users slider drives it, as it drives a demo scenario...
        window.controls.users.setValue(position_from_users(12))
        await wait_until(
            lambda: session.measurement.in_flight().get("GET /products") == 12,
            what="12 users in flight",
        )
        # ... and, unlinked, it alone.
        controls = window.controls
        controls.link.setChecked(False)
        controls.users_target.setCurrentText("GET /products")
        assert controls.users_target.currentText() == "GET /products"
        controls.users.setValue(position_from_users(15))
        assert session.users("GET /products") == 15 and session.users("async") == 12
        await wait_until(
            lambda: session.measurement.in_flight().get("GET /products") == 15,
            what="15 users in flight",
        )

        def shown_rps() -> float:
            for row in range(window.table.rowCount()):
                if window.table.item(row, 0).text() == "GET /products":
                    text = window.table.item(row, 2).text().replace(",", "")
                    return 0.0 if text == "–" else float(text)
            return 0.0

        await wait_until(lambda: shown_rps() > 20, timeout_s=20, what="its req/s in the table")
        # 15 users of a 100 ms route: 150 req/s at most.
        assert shown_rps() < 160
        _, ys = window.charts.throughput._items["GET /products"].getData()
        assert ys is not None and max(ys) > 20
        assert "GET /products" in window.charts.throughput.legend.names
        await close_window(window)

    run_on_qt_loop(body())


def test_a_module_that_does_not_import_is_one_line_and_the_demo_goes_on(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        panel = window.own_panel
        panel.app_spec.setText("nosuchmodule:app")
        qtbot.mouseClick(panel.load, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "Not loaded" in panel.message.text(), what="the message")
        text = panel.message.text()
        assert "nosuchmodule" in text and "no such module" in text
        assert "\n" not in text and "Traceback" not in text
        assert panel.message.isVisible()
        assert window.session.own is None and not panel.under_load.isEnabled()
        # The demo's lesson still runs.
        window.toggle_running()
        recorder = window.session.recorder
        await wait_until(lambda: recorder.summary("async").ok >= 5, what="the demo's responses")
        await close_window(window)

    run_on_qt_loop(body())


def test_an_app_whose_start_up_fails_is_one_line_and_stops_cleanly(
    qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path
) -> None:
    (tmp_path / "broken_start.py").write_text(
        textwrap.dedent(
            """
            from contextlib import asynccontextmanager
            from fastapi import FastAPI

            @asynccontextmanager
            async def life(app):
                raise RuntimeError("no database at db:5432")
                yield

            app = FastAPI(lifespan=life)
            """
        ),
        encoding="utf-8",
    )

    async def body() -> None:
        window = await open_window(qtbot)
        panel = window.own_panel
        panel.app_dir.setText(str(tmp_path))
        panel.app_spec.setText("broken_start:app")
        qtbot.mouseClick(panel.load, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "Not loaded" in panel.message.text(), what="the message")
        text = panel.message.text()
        assert "no database at db:5432" in text and "start-up failed" in text
        assert "\n" not in text and "Traceback" not in text
        assert window.session.own is None
        window.toggle_running()  # the demo goes on
        await wait_until(
            lambda: window.session.recorder.summary("async").ok >= 5, what="the demo's load"
        )
        await close_window(window)

    try:
        run_on_qt_loop(body())
    finally:
        sys.modules.pop("broken_start", None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


def test_the_blocking_helper_of_the_shop_is_named_in_the_blocked_list(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        await load_shop(qtbot, window)
        window.controls.users.setValue(position_from_users(3))
        only_route(window)
        window.choose_route("GET /stock")
        assert window.session.endpoints() == ("GET /stock",)
        assert not window.blocked.isVisible()
        window.toggle_running()

        def named() -> list[list[str]]:
            return [row for row in window.blocked.rows() if "inventory.py" in row[2]]

        await wait_until(
            lambda: window.blocked.isVisible() and bool(named()),
            timeout_s=15,
            what="the blocked-loop list naming inventory.py",
        )
        route, call, where, held, longest, times = named()[0]
        assert route == "GET /stock"
        assert call.startswith("time.sleep(0.1)") and "waiting" in call
        assert where.startswith("examples/shop/inventory.py:") and "count_in_warehouse" in where
        assert float(held.removesuffix(" s")) > 0
        assert 80 <= int(longest.split()[0]) <= 400  # a 100 ms sleep per request
        assert int(times.replace(",", "")) >= 1
        await close_window(window)

    run_on_qt_loop(body())


def test_the_lag_of_a_route_that_blocks_is_not_blamed_on_the_generator(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        await load_shop(qtbot, window)
        session = window.session
        window.controls.users.setValue(position_from_users(4))
        only_route(window)
        window.choose_route("GET /stock")
        window.toggle_running()
        verdicts: list[HealthVerdict] = []

        def two_verdicts() -> bool:
            if session.health is not None and session.health not in verdicts:
                verdicts.append(session.health)
            return len(verdicts) >= 2

        await wait_until(two_verdicts, timeout_s=30, what="two health verdicts")
        window.refresh()
        # The loop was late, well past the limit: the shop's sleep held it...
        assert all(v.loop_lag_p99_ms >= LOOP_LAG_LIMIT_MS for v in verdicts)
        # ... which the blocked-loop list names, so the generator is not blamed.
        assert not any(v.generator_limited for v in verdicts), [v.warnings for v in verdicts]
        assert not window.health_banner.isVisible()
        await close_window(window)

    run_on_qt_loop(body())


def test_a_remote_url_needs_a_yes_and_nothing_is_sent_without_one(
    qtbot: QtBot, run_on_qt_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 127.0.0.2 reaches this machine, and the loopback check takes all of 127.0.0.0/8: here
    # it is made to say otherwise, so the test has "another machine" it can watch.
    real = runner.is_loopback_host
    monkeypatch.setattr(runner, "is_loopback_host", lambda host: host != "127.0.0.2" and real(host))

    async def body() -> None:
        connections = 0
        heads: list[bytes] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            """A minimal HTTP server: counts connections, answers every request "ok"."""
            nonlocal connections
            connections += 1
            try:
                while True:
                    heads.append(await reader.readuntil(b"\r\n\r\n"))
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the client went
            finally:
                writer.close()

        listener = await asyncio.start_server(answer, "127.0.0.2", 0)
        port = listener.sockets[0].getsockname()[1]
        window = await open_window(qtbot)
        panel, session = window.own_panel, window.session
        try:
            panel.url.setText(f"http://127.0.0.2:{port}/items?limit=3")
            qtbot.mouseClick(panel.use_url, Qt.MouseButton.LeftButton)
            box = window.remote_question
            assert box is not None and box.isVisible()
            assert "127.0.0.2" in box.text()
            box.button(QMessageBox.StandardButton.No).click()
            await wait_until(lambda: "not confirmed" in panel.message.text(), what="refusal")
            assert session.own is None and window.remote_question is None
            panel.under_load.setChecked(True)  # disabled: nothing was loaded
            assert session.route is None
            window.toggle_running()  # the demo's load only
            await wait_until(
                lambda: session.recorder.summary("async").ok >= 10, what="the demo's load"
            )
            assert connections == 0
            window.toggle_running()
            await wait_until(lambda: not session.running, what="stopped")

            # Now confirmed: loaded, yet still nothing sent before Start.
            qtbot.mouseClick(panel.use_url, Qt.MouseButton.LeftButton)
            box = window.remote_question
            assert box is not None
            box.button(QMessageBox.StandardButton.Yes).click()
            await wait_until(lambda: session.own is not None, what="the URL loaded")
            assert session.own is not None and session.own.remote
            assert panel.target.text() == "/items?limit=3"
            assert connections == 0
            panel.headers.setText("X-Check: yes; Authorization: Bearer t0ken")
            panel.under_load.setChecked(True)
            assert session.route is not None and session.route.scenario == "GET /items"
            window.toggle_running()
            await wait_until(
                lambda: session.recorder.summary("GET /items").ok >= 10,
                what="answers from the confirmed host",
            )
            assert connections > 0
            head = heads[0].lower()
            assert head.startswith(b"get /items?limit=3 http/1.1")
            assert b"x-check: yes" in head and b"authorization: bearer t0ken" in head
            window.toggle_running()
            await wait_until(lambda: not session.running, what="stopped")
        finally:
            await close_window(window)
            listener.close()
            await listener.wait_closed()

    run_on_qt_loop(body())


def test_a_loopback_url_is_taken_without_a_question(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        panel, session = window.own_panel, window.session
        panel.url.setText(f"{session.server.url}/scenario/async?delay_ms=50")
        qtbot.mouseClick(panel.use_url, Qt.MouseButton.LeftButton)
        assert window.remote_question is None
        await wait_until(lambda: session.own is not None, what="the URL loaded")
        only_route(window)
        panel.under_load.setChecked(True)
        assert session.endpoints() == ("GET /scenario/async",)
        window.toggle_running()
        await wait_until(
            lambda: session.recorder.summary("GET /scenario/async").ok >= 20,
            what="responses from the URL",
        )
        await close_window(window)

    run_on_qt_loop(body())


def test_the_app_lifespan_runs_and_stops_with_the_window(
    qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path
) -> None:
    (tmp_path / "lifespan_app.py").write_text(
        textwrap.dedent(
            """
            from contextlib import asynccontextmanager
            from fastapi import FastAPI

            EVENTS: list[str] = []

            @asynccontextmanager
            async def life(app):
                EVENTS.append("startup")
                yield
                EVENTS.append("shutdown")

            app = FastAPI(lifespan=life)

            @app.get("/ping")
            async def ping() -> str:
                return "pong"
            """
        ),
        encoding="utf-8",
    )

    async def body() -> None:
        window = await open_window(qtbot)
        panel = window.own_panel
        panel.app_spec.setText("lifespan_app:app")
        panel.app_dir.setText(str(tmp_path))
        qtbot.mouseClick(panel.load, Qt.MouseButton.LeftButton)
        await wait_until(lambda: window.session.own is not None, what="the app loaded")
        events = sys.modules["lifespan_app"].EVENTS
        assert events == ["startup"]
        await close_window(window)
        assert events == ["startup", "shutdown"]

    try:
        run_on_qt_loop(body())
    finally:
        sys.modules.pop("lifespan_app", None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


def test_gui_with_an_app_that_does_not_import_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loopscope", "gui", "--app", "nosuchmodule:app", "--autorun", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "nosuchmodule" in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_gui_autorun_with_an_app_measures_its_route(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "loopscope", "gui", "--preset", "The blocking mistake"),
            *("--app", SHOP, "--route", "GET /stock", "--autorun", "4", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["app"] == SHOP
    assert set(figures["scenarios"]) == {"blocking", "async", "GET /stock"}
    stock = figures["scenarios"]["GET /stock"]
    assert stock["throughput_rps"] > 0 and stock["theory"]["throughput_rps"] is None
    assert any(
        site["file"] == "examples/shop/inventory.py" and site["route"] == "GET /stock"
        for site in figures["blocked_loop"]
    )
    assert "GET /stock: 5 users" in done.stdout and "(theory –)" in done.stdout


def test_gui_route_without_an_app_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loopscope", "gui", "--route", "GET /x", "--autorun", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--route goes with --app" in done.stderr
