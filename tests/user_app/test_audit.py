"""`loopscope audit` on the example shop: each route's verdict, and the line that blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from loopscope.cli import main
from loopscope.desktop_app.palette import ROUTE_COLOURS
from loopscope.embedded_server import ProbedApp, import_app, operations
from loopscope.loadgen.audit import (
    VERDICT_ASYNC,
    VERDICT_BLOCKS,
    VERDICT_CPU,
    VERDICT_THREAD_POOL,
    AuditSettings,
    audit_routes,
    default_operations,
)
from tests._helpers import refused_in_one_line

REPO = Path(__file__).resolve().parents[2]
SHORT = AuditSettings(levels=(1, 8), duration_s=1.5, warmup_s=0.5)


@pytest.mark.slow
async def test_the_audit_tells_each_kind_of_route_apart() -> None:
    app = import_app("examples.shop.app:app", REPO)
    chosen, skipped = default_operations(operations(app))
    assert skipped == [("POST /orders", "not a GET")]
    report = await audit_routes(ProbedApp(app), "examples.shop.app:app", chosen, SHORT)
    verdicts = {route.operation.label: route for route in report.routes}
    assert verdicts["GET /products"].verdict == VERDICT_ASYNC
    assert verdicts["GET /invoice"].verdict == VERDICT_THREAD_POOL
    assert verdicts["GET /invoice"].detail == "capacity 40"
    stock = verdicts["GET /stock"]
    assert stock.verdict == VERDICT_BLOCKS
    # The helper module and the line with time.sleep, not the route that called it.
    site = stock.blocks[0].site
    assert (site.file, site.function) == ("examples/shop/inventory.py", "count_in_warehouse")
    source = (REPO / "examples/shop/inventory.py").read_text().splitlines()
    assert "time.sleep" in source[site.line - 1]
    assert stock.blocks[0].route == "GET /stock"
    assert verdicts["GET /recommendations"].verdict == VERDICT_CPU
    assert verdicts["GET /recommendations"].blocks[0].site.function == "rank_products"
    assert report.blocks_loop
    # Throughput follows the kind: the async route scales with users, the blocked one not.
    products, blocked = verdicts["GET /products"].levels, stock.levels
    assert products[1].throughput_rps > 4 * products[0].throughput_rps
    assert blocked[1].throughput_rps < 1.5 * blocked[0].throughput_rps
    markdown = report.to_markdown()
    assert "examples/shop/inventory.py" in markdown
    assert "a route blocks the event loop" in markdown


@pytest.mark.slow
def test_the_audit_command_exits_1_when_a_route_blocks_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "audit.json"
    argv = ["audit", "examples.shop.app:app", "--route", "GET /stock", "--route", "get  /products"]
    status = main([*argv, "--levels", "1,4", "--duration", "1", "--json", str(out)])
    assert status == 1
    captured = capsys.readouterr()
    assert "| `GET /stock` | async def | **blocks the event loop**" in captured.out
    # Its held levels' figures are marked rough, and the marker is explained; /products' not.
    rows = [line for line in captured.out.splitlines() if "| async def |" in line]
    (stock,) = [line for line in rows if line.startswith("| `GET /stock`")]
    (products,) = [line for line in rows if line.startswith("| `GET /products`")]
    assert "(held)" in stock and "(held)" not in products
    assert "*(held)*: the loop was held" in captured.out
    assert "Traceback" not in captured.err
    written = json.loads(out.read_text())
    assert written["blocks_loop"] is True
    routes = {route["route"]: route for route in written["routes"]}
    assert routes["GET /products"]["verdict"] == VERDICT_ASYNC
    assert routes["GET /stock"]["blocking_sites"][0]["file"] == "examples/shop/inventory.py"
    assert [level["users"] for level in routes["GET /stock"]["levels"]] == [1, 4]


@pytest.mark.slow
def test_the_audit_draws_each_route_at_each_level_as_a_png(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    qapp: QApplication,
) -> None:
    monkeypatch.chdir(REPO)
    png = tmp_path / "pictures" / "audit.png"  # the folder is made
    argv = ["audit", "examples.shop.app:app", "--route", "GET /products", "--route", "GET /stock"]
    status = main([*argv, "--levels", "1,4", "--duration", "1", "--png", str(png)])
    assert status == 1  # /stock blocks the loop; the PNG is drawn all the same
    assert "Traceback" not in capsys.readouterr().err
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1500, 640)

    def pixels_near(colour: str) -> int:
        want = QColor(colour)
        found = 0
        for y in range(0, image.height(), 2):
            for x in range(0, image.width(), 2):
                got = image.pixelColor(x, y)
                if (
                    abs(got.red() - want.red())
                    + abs(got.green() - want.green())
                    + abs(got.blue() - want.blue())
                    < 40
                ):
                    found += 1
        return found

    # Each route is drawn in its colour (the first and second route colours), in both panels.
    assert pixels_near(ROUTE_COLOURS[0]) > 200
    assert pixels_near(ROUTE_COLOURS[1]) > 200


@pytest.mark.slow
def test_an_app_without_blocking_routes_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    argv = ["audit", "examples.shop.app:app", "--route", "GET /invoice", "--levels", "2"]
    assert main([*argv, "--duration", "1"]) == 0
    assert "no route blocks the event loop" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "surely_not_a_module_xyz:app"],
        ["audit", "examples.shop.app"],
        ["audit", "examples.shop.app:nope"],
        ["audit", "examples.shop.app:app", "--route", "GET /nowhere"],
        ["audit", "examples.shop.app:app", "--route", "POST /orders"],
        ["audit", "examples.shop.app:app", "--levels", "0"],
        ["audit", "examples.shop.app:app", "--json", "/proc/audit.json"],
        ["audit", "examples.shop.app:app", "--png", "/proc/audit.png"],
    ],
    ids=" ".join,
)
def test_bad_audit_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    refused_in_one_line(argv, capsys)
