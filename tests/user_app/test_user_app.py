"""A user's own app under the scope: importing it, its routes, and the probes around it."""

from __future__ import annotations

import asyncio
import itertools
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from loopscope.embedded_server import (
    AppImportError,
    EmbeddedServer,
    ProbedApp,
    ServerStartError,
    import_app,
    operations,
)
from tests.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _module(tmp_path: Path, source: str) -> str:
    """Write `source` as a new module in tmp_path; its (unique) name."""
    name = f"user_module_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return name


def test_the_example_shop_imports_and_lists_its_operations() -> None:
    app = import_app("examples.shop.app:app", REPO)
    found = {operation.label: operation for operation in operations(app)}
    assert set(found) == {
        "GET /products",
        "GET /invoice",
        "GET /stock",
        "GET /recommendations",
        "POST /orders",
    }
    assert found["GET /invoice"].sync is True
    assert found["GET /stock"].sync is False
    assert found["GET /products"].query() == {"limit": "10"}
    assert found["POST /orders"].has_body and not found["POST /orders"].ready


@pytest.mark.parametrize(
    ("spec", "source", "expected"),
    [
        ("no_colon", None, 'given as "module:attribute"'),
        ("surely_not_a_module_xyz:app", None, "no such module"),
        ("{m}:nope", "app = 1\n", "has no attribute 'nope'"),
        ("{m}:app", "app = 42\n", "not an ASGI app"),
        ("{m}:app", "def app(scope):\n    pass\n", "does not take (scope, receive, send)"),
        ("{m}:app", "import missing_dependency_xyz\n", "no module named 'missing_dependency_xyz'"),
        ("{m}:app", "raise RuntimeError('no database')\n", "RuntimeError: no database"),
    ],
)
def test_an_app_that_cannot_be_imported_says_why_in_one_line(
    tmp_path: Path, spec: str, source: str | None, expected: str
) -> None:
    if source is not None:
        spec = spec.format(m=_module(tmp_path, source))
    with pytest.raises(AppImportError) as caught:
        import_app(spec, tmp_path)
    message = str(caught.value)
    assert expected.lower() in message.lower()
    assert "\n" not in message


async def test_probes_count_requests_in_flight_per_route(tmp_path: Path) -> None:
    name = _module(
        tmp_path,
        """
        import asyncio
        from fastapi import FastAPI
        app = FastAPI()
        gate = asyncio.Event()

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            await gate.wait()
            return {"id": item_id}
        """,
    )
    user_app = import_app(f"{name}:app", tmp_path)
    probed = ProbedApp(user_app, threads=7)
    async with EmbeddedServer(probed) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert server.probes.threadpool().total == 7
        requests = [asyncio.create_task(client.get(f"/items/{i}")) for i in range(3)]
        await wait_until(
            lambda: server.probes.in_flight().get("GET /items/{item_id}") == 3,
            what="three requests in flight on one route",
        )
        sys.modules[name].gate.set()
        answers = await asyncio.gather(*requests)
        assert [a.json()["id"] for a in answers] == [0, 1, 2]
        assert server.probes.in_flight()["GET /items/{item_id}"] == 0
        missing = await client.get("/nowhere")
        assert missing.status_code == 404


async def test_an_app_whose_startup_fails_gives_one_line(tmp_path: Path) -> None:
    name = _module(
        tmp_path,
        """
        from contextlib import asynccontextmanager
        from fastapi import FastAPI

        @asynccontextmanager
        async def lifespan(app):
            raise ConnectionRefusedError("database at 10.0.0.5:5432 refused")
            yield

        app = FastAPI(lifespan=lifespan)
        """,
    )
    probed = ProbedApp(import_app(f"{name}:app", tmp_path))
    server = EmbeddedServer(probed)
    with pytest.raises(ServerStartError) as caught:
        await server.start()
    assert "database at 10.0.0.5:5432 refused" in str(caught.value)
    assert "\n" not in str(caught.value)
    # The probes attached for the start-up go with it (the app's lifespan task detaches them
    # just after uvicorn gave up): no task, no watch thread.
    await wait_until(
        lambda: not [t for t in asyncio.all_tasks() if t.get_name().startswith("loopscope-")],
        timeout_s=5,
        what="the probes' tasks to end",
    )
    # ...and its watch thread has ended (seen from outside, by the thread's name).
    await wait_until(
        lambda: not [t for t in threading.enumerate() if t.name == "loopscope-blockwatch"],
        timeout_s=5,
        what="the watch thread to end",
    )


async def test_a_plain_asgi_app_without_lifespan_is_served_and_probed(tmp_path: Path) -> None:
    name = _module(
        tmp_path,
        """
        async def app(scope, receive, send):
            if scope["type"] != "http":
                raise RuntimeError("only http")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello"})
        """,
    )
    probed = ProbedApp(import_app(f"{name}:app", tmp_path))
    async with EmbeddedServer(probed) as server, httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get("/anything")
        assert answer.text == "hello"
        # The probes attached although the app has no lifespan: the lag timer ticks.
        await wait_until(
            lambda: (
                server.probes.loop_lag.stats().last_ms >= 0
                and bool(server.probes.loop_lag.lags_since(0.0))
            ),
            what="loop-lag ticks",
        )
        assert operations(probed.app) == []
