"""The Qt-free part of "Your app": what the panel's text becomes, and the URL checks."""

from __future__ import annotations

import pytest

from loopscope.desktop_app.own_app import (
    RemoteHostError,
    fits,
    operation_target,
    parse_headers,
    route_request,
    split_url,
)
from loopscope.desktop_app.palette import SCENARIO_COLOURS, endpoint_colours
from loopscope.embedded_server import Operation, Parameter


def test_an_operation_is_sent_with_its_examples_filled_in() -> None:
    operation = Operation(
        method="GET",
        path="/items/{item_id}",
        summary="",
        parameters=(
            Parameter("item_id", "path", True, "7"),
            Parameter("limit", "query", False, "10"),
            Parameter("q", "query", False, None),
        ),
    )
    assert operation_target(operation) == "/items/7?limit=10"
    request = route_request("get", "/items/3?limit=5", operation=operation)
    # Labelled as the server's in-flight probe counts it: by its route, not its path.
    assert request.scenario == "GET /items/{item_id}"
    assert (request.method, request.path, request.query) == ("GET", "/items/3", (("limit", "5"),))
    assert route_request("POST", "/items/3", operation=operation).scenario == "POST /items/3"


def test_a_body_is_json_unless_said_otherwise() -> None:
    request = route_request("POST", "/orders", '{"product": "tea"}')
    assert request.body == b'{"product": "tea"}'
    assert ("Content-Type", "application/json") in request.headers
    assert route_request("GET", "/x", "  ").body is None


@pytest.mark.parametrize(
    ("method", "target", "says"),
    [
        ("FETCH", "/x", "the method is one of"),
        ("GET", "items", "starts with /"),
        ("GET", "/items/{item_id}", "fill in the path's parameters"),
        ("GET", "/a b", "fill in the path's parameters"),
    ],
)
def test_what_cannot_be_sent_is_one_line(method: str, target: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        route_request(method, target)
    assert "\n" not in str(caught.value)


def test_headers_are_name_value_pairs_separated_by_semicolons() -> None:
    assert parse_headers(" A: 1 ;B:two words;") == (("A", "1"), ("B", "two words"))
    assert parse_headers("") == ()
    for bad in ("novalue", "Bad Name: x", ": x"):
        with pytest.raises(ValueError, match="Name: value"):
            parse_headers(bad)


def test_fits_matches_whole_segments_only() -> None:
    assert fits("/items/{id}", "/items/42")
    assert not fits("/items/{id}", "/items/42/extra")
    assert not fits("/items/{id}", "/items/")
    assert fits("/a.b", "/a.b") and not fits("/a.b", "/aXb")


def test_a_url_on_this_machine_is_taken_another_needs_a_yes() -> None:
    assert split_url("http://127.0.0.1:8000/items?limit=5", allow_remote=False) == (
        "http://127.0.0.1:8000",
        "/items?limit=5",
    )
    assert split_url("http://localhost:8000", allow_remote=False)[1] == "/"
    # Loopback in all its forms is this machine.
    assert split_url("http://127.0.0.2:9/", allow_remote=False)[0] == "http://127.0.0.2:9"
    assert split_url("https://[::1]:8443/x", allow_remote=False)[0] == "https://[::1]:8443"
    for remote in ("http://example.com/x", "https://10.0.0.5:8443/x", "http://192.0.2.1:9/"):
        with pytest.raises(RemoteHostError):
            split_url(remote, allow_remote=False)
    assert split_url("https://example.com/x", allow_remote=True) == ("https://example.com", "/x")
    # What no yes makes a server's address.
    for bad in ("ftp://127.0.0.1/x", "127.0.0.1:8000/x", "http://evil@127.0.0.1/x"):
        with pytest.raises(ValueError) as caught:
            split_url(bad, allow_remote=True)
        assert not isinstance(caught.value, RemoteHostError)


def test_routes_get_colours_apart_from_the_demo_ones_beside_them() -> None:
    colours = endpoint_colours(["async", "sync", "GET /a", "GET /b"])
    assert colours["async"] == SCENARIO_COLOURS["async"]
    routes = {colours["GET /a"], colours["GET /b"]}
    assert len(routes) == 2
    assert routes.isdisjoint({SCENARIO_COLOURS["async"], SCENARIO_COLOURS["sync"]})
    # Routes alone take the route colours from the first.
    assert endpoint_colours(["GET /a"]) == {"GET /a": "#0072B2"}
