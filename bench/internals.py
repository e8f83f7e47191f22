"""The product internals the benchmarks use beyond the gRPC contract, imported in this one place.

When identity moves or renames one of these, this module is the only import in bench/ to change.
bench.serve_counted (identity.cli) and bench._patches (identity.rpc.auth) import theirs lazily,
inside the identity process, on purpose: a hook must be in place before identity starts.
"""

from __future__ import annotations

from identity.domain.errors import Overloaded
from identity.domain.hash_params import DEFAULT_HASH_QUEUE, Argon2Params
from identity.domain.keys import generate_private_key, new_kid, public_jwk
from identity.domain.refresh import refresh_token_digest
from identity.persistence.sessions import ROTATION_STATEMENTS
from identity.services.hashing import PasswordHashing
from identity.verify import FetchedJwks, Verifier

__all__ = [
    "DEFAULT_HASH_QUEUE",
    "Argon2Params",
    "FetchedJwks",
    "Overloaded",
    "PasswordHashing",
    "ROTATION_STATEMENTS",
    "Verifier",
    "generate_private_key",
    "new_kid",
    "public_jwk",
    "refresh_token_digest",
]
