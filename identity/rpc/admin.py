"""identity.v1.IdentityAdmin: the operator API (see docs/OPERATIONS.md)."""

from __future__ import annotations

from identity.v1 import admin_pb2_grpc


class AdminServicer(admin_pb2_grpc.IdentityAdminServicer):
    """Not yet implemented: every method answers UNIMPLEMENTED (issue: admin API)."""
