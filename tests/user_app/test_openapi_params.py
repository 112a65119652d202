"""The audit sends what a person would send: values from the OpenAPI schema, a concrete
path typed by the user, mounted sub-apps; and names what it cannot load, with why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from loopscope.cli import main
from loopscope.embedded_server import import_app, match_route, operations, routes_not_loaded
from loopscope.embedded_server._openapi_values import candidates
from loopscope.loadgen._preflight import preflight
from loopscope.loadgen.audit import default_operations, request_for
from tests._helpers import refused_in_one_line
from tests.user_app.apps import catalogue

REPO = Path(__file__).resolve().parents[2]
APP = "tests.user_app.apps.catalogue:app"
UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
COMPONENTS = {
    "schemas": {
        "Colour": {"type": "string", "enum": ["red", "green"]},
        "Size": {"$ref": "#/components/schemas/Colour"},
    }
}


def query(schema: dict[str, Any], **extra: Any) -> tuple[str, ...]:
    return candidates({"name": "p", "in": "query", "schema": schema, **extra}, COMPONENTS)


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        # The order Swagger UI and schemathesis use: examples, default, enum, then the type.
        ({"schema": {"type": "integer", "default": 5}, "example": 7}, ("7", "5")),
        (
            {"schema": {"type": "string"}, "examples": {"one": {"value": "x1"}}},
            ("x1", "string", "1", "a"),
        ),
        (
            {"schema": {"type": "string", "examples": ["fromlist"], "default": "d"}},
            ("fromlist", "d"),
        ),
        ({"schema": {"type": "boolean"}}, ("true", "false")),
        ({"schema": {"$ref": "#/components/schemas/Colour"}}, ("red",)),
        ({"schema": {"$ref": "#/components/schemas/Size"}}, ("red",)),  # a ref to a ref
        ({"schema": {"anyOf": [{"type": "null"}, {"type": "integer"}]}}, ("1", "0", "10", "100")),
        ({"schema": {"allOf": [{"$ref": "#/components/schemas/Colour"}]}}, ("red",)),
        ({"schema": {"type": "integer", "minimum": 10}}, ("10", "100")),
        ({"schema": {"type": "integer", "exclusiveMinimum": 3, "maximum": 5}}, ("4", "5")),
        ({"schema": {"type": "integer", "minimum": 1, "multipleOf": 7}}, ("7", "14", "105")),
        ({"schema": {"type": "integer", "maximum": -2}}, ("-2",)),
        ({"schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}, ("0.5", "0.75", "1")),
        ({"schema": {"type": "string", "minLength": 8}}, ("stringgg", "11111111", "aaaaaaaa")),
        ({"schema": {"type": "string", "maxLength": 2}}, ("st", "1", "a", "ab")),
        ({"schema": {"type": "string", "pattern": "^[0-9]+$"}}, ("0", "1", "123")),
        ({"schema": {"type": "string", "pattern": r"^\d{3}-[A-Z]{2}$"}}, ("111-AA",)),
        ({"schema": {"type": "string", "pattern": r"^SKU-\d{4,}$"}}, ("SKU-1111",)),
        ({"schema": {"type": "string", "format": "uuid"}}, (UUID,)),
        ({"schema": {"type": "string", "format": "date"}}, ("2024-01-01",)),
        ({"schema": {"type": "string", "format": "date-time"}}, ("2024-01-01T00:00:00Z",)),
        ({"schema": {"type": "string", "format": "email"}}, ("user@example.com",)),
        ({"schema": {"type": "string", "format": "uri"}}, ("https://example.com/",)),
        ({"schema": {"type": "array", "items": {"type": "integer", "minimum": 3}}}, ("3", "10")),
        ({"schema": {"type": "object"}}, ()),  # nothing a URL can carry
        ({"schema": {"title": "Item Id"}}, ("string", "1")),  # untyped: `def f(item_id)`
    ],
)
def test_values_come_from_the_schema_in_order(
    parameter: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert candidates({"name": "p", "in": "query", **parameter}, COMPONENTS)[: len(expected)] == (
        expected
    )


def test_an_optional_parameter_gets_only_the_values_the_schema_gives() -> None:
    optional = {"name": "p", "in": "query", "schema": {"type": "string"}}
    assert candidates(optional, invent=False) == ()
    with_default = {**optional, "schema": {"type": "integer", "default": 10}}
    assert candidates(with_default, invent=False) == ("10",)


def test_a_path_value_never_breaks_the_path() -> None:
    with_slash = {"name": "p", "in": "path", "example": "a/b", "schema": {"type": "string"}}
    # A plain path parameter cannot hold a slash (the router splits on it) ...
    assert candidates(with_slash)[0] == "string"
    # ... a {p:path} one can, though never a leading one (that makes "//").
    leading = {**with_slash, "example": "/etc/x.txt"}
    assert candidates(leading, path_convertor=True)[0] == "etc/x.txt"


def test_the_catalogue_lists_mounted_routes_and_values_for_each_parameter() -> None:
    app = import_app(APP, REPO)
    found = {operation.label: operation for operation in operations(app)}
    targets = {label: request_for(operation).path for label, operation in found.items()}
    assert targets["GET /items/{item_id}"] == "/items/string"
    assert targets["GET /colours/{colour}"] == "/colours/red"  # the Enum, from the components
    assert targets["GET /files/{file_path}"] == "/files/string"
    assert targets["GET /orders/{order_id}"] == f"/orders/{UUID}"
    assert found["GET /page"].query() == {"size": "10"}  # ge=10
    # The mounted FastAPI app's routes, behind its prefix, with their kinds.
    assert targets["GET /admin/users/{user_id}"] == "/admin/users/1"
    assert found["GET /admin/health"].sync is True
    assert found["GET /admin/users/{user_id}"].sync is False
    assert routes_not_loaded(app) == [
        ("WEBSOCKET /ws", "websocket route"),
        ("GET /static/…", "static files"),
    ]
    chosen, skipped = default_operations(list(found.values()))
    assert ("GET /report", "needs a request body (give --body)") in skipped
    assert ("POST /notes", "not a GET") in skipped
    assert "GET /items/{item_id}" in {operation.label for operation in chosen}


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("GET", "/items/1", "GET /items/{item_id}"),
        ("get", "/files/a/b.txt", "GET /files/{file_path}"),
        ("GET", "/admin/users/3", "GET /admin/users/{user_id}"),
        ("GET", "/colours/blue", "GET /colours/{colour}"),  # the router matches; 422 is later
        ("GET", "/admin/nowhere", None),  # the mount takes it and has no such route
        ("POST", "/items/1", None),
        ("GET", "/static/x.css", None),
    ],
)
def test_a_concrete_path_is_matched_by_starlettes_router(
    method: str, path: str, label: str | None
) -> None:
    assert match_route(import_app(APP, REPO), method, path) == label


async def test_the_preflight_moves_on_after_a_422_and_names_a_refused_parameter() -> None:
    app = import_app(APP, REPO)
    chosen, _ = default_operations(operations(app))
    kept, refused = await preflight(app, chosen)
    sent = {operation.label: request_for(operation) for operation in kept}
    # The schema says "string"; the app's own validator wants digits: the next value passes.
    assert sent["GET /lots/{lot}"].path == "/lots/1"
    assert sent["GET /search"].query == (("q", "string"),)
    assert sent["GET /private"].headers == (("x-token", "string"),)  # a header parameter too
    [(route, why)] = refused
    assert route == "GET /codes"
    assert why.startswith("every value tried was refused: 422 for the query parameter 'code'")
    assert "String should match pattern" in why


@pytest.mark.slow
def test_the_audit_loads_every_route_it_can_send_and_says_why_not_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "audit.json"
    argv = ["audit", APP, "--levels", "1", "--duration", "1", "--header", "X-Token: secret"]
    assert main([*argv, "--json", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    written = json.loads(out.read_text())
    routes = {route["route"]: route for route in written["routes"]}
    assert set(routes) == {
        "GET /items/{item_id}",
        "GET /colours/{colour}",
        "GET /files/{file_path}",
        "GET /search",
        "GET /page",
        "GET /orders/{order_id}",
        "GET /lots/{lot}",
        "GET /private",
        "GET /admin/health",
        "GET /admin/users/{user_id}",
    }
    for label, route in routes.items():
        [level] = route["levels"]
        assert level["requests"] > 0, label
        assert level["errors"] == {}, label  # every request answered 2xx: values accepted
    skipped = {item["route"]: item["why"] for item in written["skipped"]}
    assert skipped["GET /report"] == "needs a request body (give --body)"
    assert skipped["POST /notes"] == "not a GET"
    assert skipped["WEBSOCKET /ws"] == "websocket route"
    assert skipped["GET /static/…"] == "static files"
    assert skipped["GET /codes"].startswith("every value tried was refused: 422")


@pytest.mark.slow
def test_a_concrete_route_goes_out_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    catalogue.SEEN.clear()
    out = tmp_path / "audit.json"
    argv = ["audit", APP, "--route", "GET /items/1", "--route", "POST /notes"]
    argv += ["--body", '{"text": "hello"}', "--levels", "1", "--duration", "1"]
    assert main([*argv, "--json", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    routes = {route["route"]: route for route in json.loads(out.read_text())["routes"]}
    assert set(routes) == {"GET /items/{item_id}", "POST /notes"}
    assert routes["POST /notes"]["levels"][0]["errors"] == {}
    assert routes["GET /items/{item_id}"]["levels"][0]["requests"] > 0
    assert catalogue.SEEN and set(catalogue.SEEN) == {"1"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--route", "GET /report"], "needs a request body (give --body)"),
        (["--route", "GET /codes"], "every value tried was refused: 422"),
        (["--route", "GET /admin/nowhere"], "is not a route of the app"),
        (["--header", "no colon here"], '--header is "Name: value"'),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_route_the_audit_cannot_send_exits_2_with_one_line(
    argv: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    refused_in_one_line(["audit", APP, *argv], capsys, says=expected)


def test_routes_hidden_from_the_schema_are_listed_but_not_fastapis_own_pages() -> None:
    app = FastAPI()

    @app.get("/items/", include_in_schema=False)
    def hidden_items() -> list[str]:
        return []

    @app.get("/docs-of-our-own", include_in_schema=False)
    async def own_docs() -> str:
        return "docs"

    @app.get("/shown")
    async def shown() -> str:
        return "shown"

    found = {operation.label: operation for operation in operations(app)}
    assert set(found) == {"GET /items/", "GET /docs-of-our-own", "GET /shown"}
    assert found["GET /items/"].sync is True and found["GET /docs-of-our-own"].sync is False
    assert all(operation.ready for operation in found.values())
