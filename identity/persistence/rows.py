"""Rows more than one store writes the same way: a refresh token, an audit event's detail."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from identity.persistence.tables import refresh_tokens

# Prebuilt, so its cache key is memoised (see identity.persistence.sessions): a login writes a
# session's first token with it, a rotation on SQLite the successor.
INSERT_REFRESH_TOKEN = insert(refresh_tokens)


def refresh_token_row(
    digest: bytes, session_id: str, generation: int, issued_at: datetime
) -> dict[str, Any]:
    return {
        "digest": digest,
        "session_id": session_id,
        "generation": generation,
        "issued_at": issued_at,
    }


def detail_json(detail: dict[str, Any] | None) -> str:
    """An audit event's detail as stored: sorted keys; datetimes and other values as text."""
    return json.dumps(detail or {}, sort_keys=True, default=str)
