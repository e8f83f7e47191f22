"""The JSON log keeps only allow-listed `extra` keys (identity.logs): every key the product code
passes must be on the list, or the field vanishes from every line without a word."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from identity.logs import ALLOWED_EXTRA, CLOSED_EXTRA, JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def _extra_keys(source: str) -> set[str]:
    """String keys of every `extra={...}` dict literal passed to a call."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                    keys |= {
                        k.value
                        for k in keyword.value.keys
                        if isinstance(k, ast.Constant) and isinstance(k.value, str)
                    }
        # `extra = {...}` built first and passed as `extra={**extra, ...}`
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "extra" for t in node.targets
        ):
            if isinstance(node.value, ast.Dict):
                keys |= {
                    k.value
                    for k in node.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                }
    return keys


def test_every_extra_key_the_code_logs_reaches_the_line():
    used: dict[str, set[str]] = {}
    for package in ("identity", "edge_http"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for key in _extra_keys(path.read_text()):
                used.setdefault(key, set()).add(str(path.relative_to(ROOT)))
    assert used, "found no extra= at all: the scan is broken"
    dropped = {k: sorted(v) for k, v in used.items() if k not in ALLOWED_EXTRA | set(CLOSED_EXTRA)}
    assert dropped == {}


def test_the_edge_access_line_carries_its_route_and_status():
    record = logging.LogRecord("edge_http.access", logging.INFO, "", 0, "GET %s", ("/x",), None)
    record.route, record.status = "/auth/sessions/{session_id}", 204
    line = JsonFormatter().format(record)
    assert '"route": "/auth/sessions/{session_id}"' in line and '"status": 204' in line


def test_a_key_off_the_list_is_dropped():
    record = logging.LogRecord("x", logging.INFO, "", 0, "m", None, None)
    record.password = "hunter2hunter2"
    record.code = "123456"
    assert "hunter2" not in JsonFormatter().format(record)
    assert "123456" not in JsonFormatter().format(record)
