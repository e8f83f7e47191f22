"""Issue 7: the edge's OpenAPI description (edge_http/openapi.json) and the routes it serves agree.

The description is the input of the schemathesis run (test_schemathesis.py); these tests keep it
honest: valid OpenAPI 3.1, exactly the edge's routes and methods, every problem `code` the edge
can send, and served byte for byte at GET /openapi.json.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import schemathesis
from starlette.routing import Route

import edge_http.problems as problems
from edge_http.app import create_app
from edge_http.config import EdgeSettings
from edge_http.identity_client import IdentityClient
from edge_http.problems import GRPC_TO_HTTP, ProblemKind

HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


def description() -> dict[str, Any]:
    text = resources.files("edge_http").joinpath("openapi.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def described_operations() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in description()["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }


def served_operations() -> set[tuple[str, str]]:
    """(path template, method) of every route of a real edge app; HEAD comes with each GET."""
    settings = EdgeSettings(identity_target="127.0.0.1:1")
    app = create_app(settings, IdentityClient(settings))
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), f"unexpected route type {route!r}: describe it"
        methods = set(route.methods or ())
        assert "HEAD" not in methods or "GET" in methods, route.path
        served |= {(route.path, m) for m in methods - {"HEAD"}}
    return served


def test_the_description_is_valid_openapi_3_1():
    doc = description()
    assert doc["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(doc).validate()  # the OpenAPI 3.1 meta-schema
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_the_description_lists_exactly_the_routes_the_edge_serves():
    described, served = described_operations(), served_operations()
    assert served - described == set(), "routes the description lacks"
    assert described - served == set(), "described operations the edge does not serve"


def test_every_operation_documents_its_answers_as_problem_json():
    for path, item in description()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "default" not in responses, "a default response would hide undocumented codes"
            for status, response in responses.items():
                if "$ref" in response:
                    continue
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        path,
                        method,
                        status,
                    )


def test_every_problem_code_the_edge_can_send_is_described():
    kinds = [k for k in vars(problems).values() if isinstance(k, ProblemKind)]
    codes = {k.code for k in [*kinds, *GRPC_TO_HTTP.values()]}
    codes |= {"not_ready", "unavailable"}  # routes_public.py: readyz, /api/me without keys
    enum = set(description()["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert codes <= enum, f"undescribed problem codes: {codes - enum}"


async def test_the_edge_serves_the_description_as_it_is(edge):
    response = await edge.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    source = resources.files("edge_http").joinpath("openapi.json").read_bytes()
    assert response.content == source
    again = await edge.client.get(
        "/openapi.json", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
