"""clients/browser: its unit tests and strict type check pass, and the edge serves its build."""

from __future__ import annotations

from tests.client.support import CLIENT, ROOT, node_command


def test_the_unit_tests_pass():
    result = node_command(["npm", "test"], CLIENT)
    assert result.returncode == 0, result.stdout + result.stderr
    # node's test runner closes with its counts; none may fail, and some must have run.
    assert "# fail 0" in result.stdout, result.stdout
    assert "# pass 0" not in result.stdout, result.stdout


def test_the_sources_type_check_under_strict():
    result = node_command(["npm", "run", "--silent", "typecheck"], CLIENT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_served_auth_client_is_built_from_the_package():
    check = ["bash", str(ROOT / "scripts" / "build-client"), "--check"]
    result = node_command(check, ROOT, package=CLIENT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_hint_cookie_name_is_the_edges():
    """The cookie name is defined once per language; this keeps the two the same."""
    from edge_http.wire import REFRESH_HINT_COOKIE

    served = (ROOT / "edge_http" / "static" / "auth-client.js").read_text()
    assert f'REFRESH_HINT_COOKIE = "{REFRESH_HINT_COOKIE}"' in served
