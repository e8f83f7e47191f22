"""The one gRPC status -> HTTP problem table, and the problem+json shape."""

from __future__ import annotations

import json

import grpc

from edge_http.problems import GRPC_TO_HTTP, IdentityCallError, problem_for_status, problem_response


def test_table_covers_every_grpc_status_code():
    assert set(GRPC_TO_HTTP) == set(grpc.StatusCode)


def test_table_maps_the_documented_codes():
    expected = {
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.ALREADY_EXISTS: 409,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 503,
        grpc.StatusCode.CANCELLED: 503,  # a stopping identity cancelled it: issue 22
    }
    for code, status in expected.items():
        assert GRPC_TO_HTTP[code].status == status
    for code in set(grpc.StatusCode) - set(expected):
        assert GRPC_TO_HTTP[code].status == 500


def test_internal_errors_never_show_identitys_text():
    problem = problem_for_status(IdentityCallError(grpc.StatusCode.INTERNAL, "Traceback: secret"))
    assert problem.status == 500
    assert "secret" not in problem.detail


def test_unauthenticated_has_one_text_whatever_identity_said():
    a = problem_for_status(IdentityCallError(grpc.StatusCode.UNAUTHENTICATED, "reused token"))
    b = problem_for_status(IdentityCallError(grpc.StatusCode.UNAUTHENTICATED, "expired"))
    assert a.detail == b.detail


def test_rate_limited_carries_retry_after():
    problem = problem_for_status(IdentityCallError(grpc.StatusCode.RESOURCE_EXHAUSTED, "", 7))
    response = problem_response(problem)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


def test_every_call_identity_did_not_complete_is_503_with_retry_after_never_500():
    """A deploy stops identity replicas: what they cancel or never answer is "try again"."""
    for status in (
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        response = problem_response(problem_for_status(IdentityCallError(status, "shutdown")))
        assert response.status_code == 503, status
        assert response.headers["retry-after"] == "1", status
        assert json.loads(bytes(response.body))["code"] == "unavailable"


def test_problem_is_rfc9457_json():
    response = problem_response(problem_for_status(IdentityCallError(grpc.StatusCode.NOT_FOUND)))
    assert response.headers["content-type"] == "application/problem+json"
    body = json.loads(bytes(response.body))
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert {"type", "detail", "code"} <= body.keys()


def test_invalid_argument_detail_is_passed_on_without_control_characters():
    problem = problem_for_status(
        IdentityCallError(grpc.StatusCode.INVALID_ARGUMENT, "password too short\r\nX-Evil: 1")
    )
    assert problem.detail == "password too shortX-Evil: 1"
