"""JSON log lines: one object per line, values escaped and truncated, never a secret."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import grpc

MAX_VALUE = 512
# Only these `extra` keys are copied into a line: ids and outcomes, never free-form payloads.
ALLOWED_EXTRA = frozenset(
    {
        "user_id",
        "sid",
        "jti",
        "kid",
        "alg",
        "method",
        "caller",
        "outcome",
        "cause",
        "reason",
        "port",
        "target",
        "url",
        "route",  # the edge's route template (`/auth/sessions/{session_id}`), never the raw path
        "status",
        "action",
        "factor",  # "totp" or "recovery": which kind of second-factor code, never the code
        "ticket_failures",
        "mail_id",
        "kind",
        "tries",
        "smtp_error",  # the exception class and SMTP code, never the server's reply text
    }
)
# Keys copied only when the value is one of a closed set; anything else a caller passes there
# is replaced. A gRPC status goes under `grpc_status`: `code` is not copied at all, being the
# usual name of one-time secrets (OAuth authorization codes, codes sent by mail).
CLOSED_EXTRA: dict[str, frozenset[str]] = {
    "grpc_status": frozenset(status.name for status in grpc.StatusCode),
}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + "…"
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _short(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in CLOSED_EXTRA and key not in _STANDARD:
                known = isinstance(value, str) and value in CLOSED_EXTRA[key]
                line[key] = value if known else "(not a known value)"
            elif key in ALLOWED_EXTRA and key not in _STANDARD:
                line[key] = _short(
                    value
                    if isinstance(value, str | int | float | bool) or value is None
                    else str(value)
                )
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception text can carry input (SQL parameters, a token).
            line["error"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=True)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_drivers()


# Driver loggers echo SQL parameters at DEBUG/INFO (audit rows, hashes): never above WARNING.
DRIVER_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "asyncio", "alembic", "grpc")


def quiet_drivers() -> None:
    for noisy in DRIVER_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
