import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from identity.v1 import identity_pb2 as _identity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListUserSessionsRequest(_message.Message):
    __slots__ = ("user_id", "email", "include_ended")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ENDED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    include_ended: bool
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., include_ended: _Optional[bool] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id", "reason")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: str
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    def __init__(self, revoked: _Optional[bool] = ...) -> None: ...

class RevokeUserSessionsRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeUserSessionsResponse(_message.Message):
    __slots__ = ("revoked_sessions",)
    REVOKED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    revoked_sessions: int
    def __init__(self, revoked_sessions: _Optional[int] = ...) -> None: ...

class RevokeAccessTokenRequest(_message.Message):
    __slots__ = ("jti", "reason")
    JTI_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    jti: str
    reason: str
    def __init__(self, jti: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeAccessTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ("alg", "reason")
    ALG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    alg: str
    reason: str
    def __init__(self, alg: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: SigningKey
    def __init__(self, key: _Optional[_Union[SigningKey, _Mapping]] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "alg", "state", "created_at", "activates_at", "retired_at", "unpublish_at")
    KID_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATES_AT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    UNPUBLISH_AT_FIELD_NUMBER: _ClassVar[int]
    kid: str
    alg: str
    state: str
    created_at: _timestamp_pb2.Timestamp
    activates_at: _timestamp_pb2.Timestamp
    retired_at: _timestamp_pb2.Timestamp
    unpublish_at: _timestamp_pb2.Timestamp
    def __init__(self, kid: _Optional[str] = ..., alg: _Optional[str] = ..., state: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., activates_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unpublish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ...) -> None: ...

class LockUserRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LockUserResponse(_message.Message):
    __slots__ = ("revoked_sessions",)
    REVOKED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    revoked_sessions: int
    def __init__(self, revoked_sessions: _Optional[int] = ...) -> None: ...

class UnlockUserRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UnlockUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("user_id", "email", "kind", "limit", "before_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    kind: str
    limit: int
    before_id: int
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., kind: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "at", "kind", "actor", "user_id", "session_id", "outcome", "detail_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: _timestamp_pb2.Timestamp
    kind: str
    actor: str
    user_id: str
    session_id: str
    outcome: str
    detail_json: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., outcome: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "email", "email_verified", "locked", "created_at", "last_login_at", "second_factor_enabled")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_LOGIN_AT_FIELD_NUMBER: _ClassVar[int]
    SECOND_FACTOR_ENABLED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    email_verified: bool
    locked: bool
    created_at: _timestamp_pb2.Timestamp
    last_login_at: _timestamp_pb2.Timestamp
    second_factor_enabled: bool
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., locked: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_login_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., second_factor_enabled: _Optional[bool] = ...) -> None: ...

class SendPasswordResetRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SendPasswordResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarkEmailVerifiedRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MarkEmailVerifiedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUndeliveredMailRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class UndeliveredMail(_message.Message):
    __slots__ = ("mail_id", "kind", "recipient", "status", "tries", "last_error", "created_at", "next_attempt_at")
    MAIL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    mail_id: str
    kind: str
    recipient: str
    status: str
    tries: int
    last_error: str
    created_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    def __init__(self, mail_id: _Optional[str] = ..., kind: _Optional[str] = ..., recipient: _Optional[str] = ..., status: _Optional[str] = ..., tries: _Optional[int] = ..., last_error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListUndeliveredMailResponse(_message.Message):
    __slots__ = ("mails",)
    MAILS_FIELD_NUMBER: _ClassVar[int]
    mails: _containers.RepeatedCompositeFieldContainer[UndeliveredMail]
    def __init__(self, mails: _Optional[_Iterable[_Union[UndeliveredMail, _Mapping]]] = ...) -> None: ...

class ResetSecondFactorRequest(_message.Message):
    __slots__ = ("user_id", "email", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    reason: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ResetSecondFactorResponse(_message.Message):
    __slots__ = ("had_second_factor", "revoked_sessions")
    HAD_SECOND_FACTOR_FIELD_NUMBER: _ClassVar[int]
    REVOKED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    had_second_factor: bool
    revoked_sessions: int
    def __init__(self, had_second_factor: _Optional[bool] = ..., revoked_sessions: _Optional[int] = ...) -> None: ...
