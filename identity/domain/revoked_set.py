"""What is revoked, held in memory: the state behind every RevocationView (token_rules).

identity's RevocationCache (from its event log) and identity.verify's RevocationFollower (from
WatchRevocations) both fill one of these. Each entry is kept until its forget time (POSIX
seconds), after which every access token it could affect has expired.
"""

from __future__ import annotations


class RevokedSet:
    def __init__(self) -> None:
        self._sessions: dict[str, float] = {}
        self._users: dict[str, tuple[int, float]] = {}  # sub -> (not before, forget after)
        self._jtis: dict[str, float] = {}

    def revoke(
        self,
        kind: str,
        forget_after: float,
        *,
        session_id: str = "",
        user_id: str = "",
        not_before: int | None = None,
        jti: str = "",
    ) -> None:
        """One revocation event's effect; an event missing what its kind needs changes nothing."""
        if kind == "session" and session_id:
            self._sessions[session_id] = forget_after
        elif kind == "user" and user_id and not_before is not None:
            old = self._users.get(user_id)
            if old is None or old[0] < not_before:  # a later not-before wins, never an earlier
                self._users[user_id] = (not_before, forget_after)
        elif kind == "access_token" and jti:
            self._jtis[jti] = forget_after

    def forget_expired(self, now: float) -> None:
        self._sessions = {k: v for k, v in self._sessions.items() if v > now}
        self._users = {k: v for k, v in self._users.items() if v[1] > now}
        self._jtis = {k: v for k, v in self._jtis.items() if v > now}

    # RevocationView
    def session_revoked(self, sid: str) -> bool:
        return sid in self._sessions

    def user_not_before(self, sub: str) -> int | None:
        entry = self._users.get(sub)
        return None if entry is None else entry[0]

    def jti_denied(self, jti: str) -> bool:
        return jti in self._jtis
