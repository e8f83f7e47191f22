"""The wire contract between identity and its gRPC callers: metadata keys, limits, balancing."""

from __future__ import annotations

import json
from typing import Final

from identity.domain.errors import Overloaded
from identity.domain.jose import MAX_TOKEN_LENGTH
from identity.domain.second_factor import MAX_CODE_LENGTH

__all__ = [
    "CODE_OVERLOADED",
    "HEALTH_CHECKED_ROUND_ROBIN",
    "MAX_CLIENT_IP",
    "MAX_CLIENT_USER_AGENT",
    "MAX_CREDENTIAL_LENGTH",
    "MAX_CODE_LENGTH",
    "MAX_LINK_TOKEN_LENGTH",
    "MAX_MFA_TICKET_LENGTH",
    "MAX_TOKEN_LENGTH",
    "MD_AUTHORIZATION",
    "MD_CLIENT_IP",
    "MD_CLIENT_USER_AGENT",
    "MD_ERROR_CODE",
    "MD_RETRY_AFTER",
    "MD_SERVICE_CREDENTIAL_REFUSED",
]

# Request metadata: the caller's service credential (`Bearer idsk_…`), and the end user's
# address and agent, which identity believes from `edge` callers only.
MD_AUTHORIZATION: Final = "authorization"
MD_CLIENT_IP: Final = "x-client-ip"
MD_CLIENT_USER_AGENT: Final = "x-client-user-agent"

# Trailing metadata: seconds to wait after RESOURCE_EXHAUSTED.
MD_RETRY_AFTER: Final = "retry-after"
# Trailing metadata on every domain error: its machine-readable code (`code` of the error in
# identity.domain.errors, e.g. "step_up_required"), so a caller that must tell two refusals of
# one status apart branches on it, never on the message text.
MD_ERROR_CODE: Final = "x-error-code"
# The code of RESOURCE_EXHAUSTED when the password-hash queue is full (not a throttled account):
# the edge holds logins back itself for the Retry-After (edge_http/hash_admission.py).
CODE_OVERLOADED: Final = Overloaded.code
# Trailing metadata on an UNAUTHENTICATED that refuses the *caller's* credential, not a user's
# token. The edge must never read that as "the user's token is invalid": it would clear the
# refresh cookie of every user while its own credential is wrong.
MD_SERVICE_CREDENTIAL_REFUSED: Final = "x-service-credential-refused"

# A longer `authorization` value is refused before it is hashed.
MAX_CREDENTIAL_LENGTH: Final = 512
# Identity keeps this much of the forwarded client metadata (the session columns' widths).
MAX_CLIENT_IP: Final = 64
MAX_CLIENT_USER_AGENT: Final = 512

# The gRPC service config for callers of several replicas: round-robin over the replicas whose
# grpc.health.v1 status (the server as a whole, service "") is SERVING (gRPC's client-side
# health checking, gRFC A17; pick_first would ignore it). A replica draining after SIGTERM says
# NOT_SERVING while it still serves, so such callers stop sending it new calls before it stops
# accepting. Pass it as the channel option ("grpc.service_config", HEALTH_CHECKED_ROUND_ROBIN).
HEALTH_CHECKED_ROUND_ROBIN: Final = json.dumps(
    {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
)

# A mailed link's token (`idpr_`/`idev_` + 43 characters) is far shorter; the edge refuses a
# longer one unread, identity refuses anything not shaped like one with the one bad-link error.
MAX_LINK_TOKEN_LENGTH: Final = 128
# An MFA ticket (`idmt_` + 43 characters) likewise; a second-factor code (six digits, or a
# recovery code with its dashes) is bounded by identity's MAX_CODE_LENGTH, re-exported here.
MAX_MFA_TICKET_LENGTH: Final = 128
