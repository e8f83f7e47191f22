"""The RFC 9470 step-up challenge: what a resource server answers to a StepUpRequired refusal.

    try:
        claims = await verifier.averify(token, acr="aal2", max_auth_age=300)
    except StepUpRequired as error:
        return 401, {"WWW-Authenticate": step_up_challenge(error)}

One builder for every service (and the edge's demo route), so clients see one format:
`Bearer error="insufficient_user_authentication", error_description="…", acr_values="aal2",
max_age=300`. Only the demands are echoed, never anything of the token.
"""

from __future__ import annotations

import math

from identity.domain.errors import InsufficientAuthentication, StepUpRequired

_DESCRIPTIONS = {  # RFC 9470 §3's own example texts
    True: "A different authentication level is required",
    False: "More recent authentication is required",
}


def step_up_challenge(error: StepUpRequired) -> str:
    """The `WWW-Authenticate` value for `error` (RFC 9470 §3, RFC 6750 §3): the demanded
    `acr_values` and `max_age`, whichever the call made, so one step-up meets both."""
    description = _DESCRIPTIONS[isinstance(error, InsufficientAuthentication)]
    parts = [
        'Bearer error="insufficient_user_authentication"',
        f'error_description="{description}"',
    ]
    if error.acr is not None:
        parts.append(f"acr_values={_quoted(error.acr)}")
    if error.max_age is not None and math.isfinite(error.max_age):
        # Whole seconds, rounded down: the client is asked for no less than was demanded.
        parts.append(f"max_age={int(error.max_age)}")
    return ", ".join(parts)


def _quoted(value: str) -> str:
    # check_authentication lets only our level names through, but the error is public: a
    # StepUpRequired built by hand must not break out of the quoted-string (RFC 9110 §5.6.4)
    # nor the header line: only visible ASCII and spaces stay.
    printable = "".join(c for c in value if " " <= c <= "~")
    escaped = printable.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
