"""Prometheus metrics. Labels carry outcomes and causes only: never emails, ids, tokens or IPs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LOGINS = Counter("identity_logins_total", "Login attempts by outcome", ["outcome"])
# action: login, step_up, confirm; result: ok, wrong, replayed, throttled.
SECOND_FACTOR = Counter(
    "identity_second_factor_total",
    "Second-factor code checks by action, result and kind of code (totp, recovery)",
    ["action", "result", "code"],
)
REFRESHES = Counter(
    "identity_refreshes_total",
    "Refresh attempts by outcome (rotate, grace_replay, reuse, invalid)",
    ["outcome"],
)
REUSE_INCIDENTS = Counter("identity_refresh_reuse_total", "Refresh token reuse by cause", ["cause"])
# By caller (a credential's name, never its secret; operators create few): a credential whose
# inactive count climbs is scanning tokens (docs/OPERATIONS.md, "Alerts").
INTROSPECTIONS = Counter(
    "identity_introspections_total", "Introspections by result and caller", ["active", "caller"]
)
REVOCATIONS = Counter(
    "identity_revocations_total", "Revocations by kind and reason", ["kind", "reason"]
)
RPC_LATENCY = Histogram(
    "identity_rpc_seconds",
    "gRPC handling time by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HASH_SHED = Counter("identity_password_hash_shed_total", "Hashing requests shed under load")
# With `--workers`, the sum over the live workers (identity/workers.py, multiprocess mode).
HASH_IN_FLIGHT = Gauge(
    "identity_password_hashes_in_flight",
    "Password hashes running or queued for a hash thread",
    multiprocess_mode="livesum",
)
MAIL_PENDING = Gauge(
    "identity_mail_outbox_pending", "Mails in the outbox not delivered yet (given-up ones excluded)"
)
MAIL_SENT = Counter(
    "identity_mail_sent_total", "Mails delivered to the SMTP server, by kind", ["kind"]
)
MAIL_FAILED = Counter(
    "identity_mail_failed_total", "Mails given up on after the last try, by kind", ["kind"]
)
MAIL_DELIVERY_ERRORS = Counter(
    "identity_mail_delivery_errors_total",
    "Failed delivery attempts (retried or not), by kind",
    ["kind"],
)
