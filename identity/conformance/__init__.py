"""A conformance kit operators run against their own deployment: `identity conformance`.

It signs up a throwaway user through the edge, checks the properties the design promises (cookie
flags, CSRF refusals, rotation, grace recovery, concurrent refreshes, reuse detection, key
rotation under a cached JWKS, revocation reaching introspection, clock-skew tolerance), reports
pass/fail per property, and cleans up (the user's sessions revoked, the user locked).
"""
