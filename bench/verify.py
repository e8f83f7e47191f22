"""Offline verification: identity.verify.Verifier.verify against its floor and against PyJWT.

    python -m bench.verify [--repeats 9] [--batch 200] [--quick]

For each algorithm (ES256, EdDSA, RS256), in every repeat and in a shuffled order, one batch of
tokens never seen before is verified by each contender:

- `raw`: the floor. `cryptography`'s `public_key.verify` on the signing input and signature,
  already split and decoded (and, for ES256, already converted to DER) outside the timing.
- `pyjwt`: plain `jwt.decode(token, key, algorithms=[alg], audience=…, issuer=…)` with the key
  object preloaded (PyJWT's defaults: it also checks exp/nbf/iat).
- `verifier`: `Verifier.verify(token)` as shipped (claims cache on; first-seen tokens, so every
  call is a miss: full check plus the cache insert).
- `verifier_nocache`: the same with `cache_size=0`.
- `cached`: `Verifier.verify` of 64 tokens it has already verified, cycled (every call a hit:
  expiry, key and revocation view re-checked, signature not), `CACHED_ROUNDS` times the batch:
  a batch of hits lasts only tens of microseconds, too short to time on its own.

The revocation view plugged into the verifiers is an in-memory one (three set/dict lookups),
as a WatchRevocations follower would hold. Keys come from an in-memory JWK Set source, fetched
once before timing. Each batch is timed with perf_counter; a ratio is `raw time / contender
time` per token within one repeat, so > 1 means faster than the floor. The process is pinned to
one core. Reported: the median ratio and its min–max over the repeats.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench._common import CLIENT_CPUS, fmt_ratio, summary
from bench.internals import FetchedJwks, Verifier, generate_private_key, new_kid, public_jwk
from bench.runner import run_benchmark, shuffled
from bench.targets import bars, console_line

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 9, "batch": 200}
QUICK: dict[str, Any] = {"repeats": 3, "batch": 50}

ISSUER = "https://id.bench.invalid"
AUDIENCE = "api"
ALGORITHMS = ("ES256", "EdDSA", "RS256")
CONTENDERS = ("raw", "pyjwt", "verifier", "verifier_nocache", "cached")
CACHED_ROUNDS = 20


class MemorySource:
    def __init__(self, document: str) -> None:
        self.document = document

    def fetch(self, etag: str | None) -> FetchedJwks:
        return FetchedJwks(self.document, 3600.0, None)

    async def afetch(self, etag: str | None) -> FetchedJwks:
        return self.fetch(etag)


@dataclass
class MemoryRevocations:
    sessions: set[str] = field(default_factory=set)
    jtis: set[str] = field(default_factory=set)
    not_before: dict[str, int] = field(default_factory=dict)

    def session_revoked(self, sid: str) -> bool:
        return sid in self.sessions

    def user_not_before(self, sub: str) -> int | None:
        return self.not_before.get(sub)

    def jti_denied(self, jti: str) -> bool:
        return jti in self.jtis


class Issuer:
    """Mints access tokens shaped exactly as identity's AccessTokens.issue does."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self.kid = new_kid()
        self.private = generate_private_key(alg)
        self.public = self.private.public_key()
        self.jwk = public_jwk(self.private, self.kid, alg)

    def mint(self) -> str:
        now = int(time.time())
        claims = {
            "jti": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
            "iss": ISSUER,
            "sub": "user-" + base64.urlsafe_b64encode(os.urandom(12)).decode(),
            "aud": AUDIENCE,
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "sid": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
            "scope": "openid",
            "client_id": "web",
            # What identity mints since issue 20: amr is a list, the claims cache's copied case.
            "email_verified": True,
            "amr": ["pwd"],
            "acr": "aal1",
            "auth_time": now,
        }
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"typ": "at+jwt", "kid": self.kid}
        )

    def raw_verifier(self, tokens: list[str]) -> Callable[[], None]:
        """The floor: only the signature check, on bytes prepared outside the timing."""
        prepared = []
        for token in tokens:
            signing_input, _, segment = token.rpartition(".")
            signature = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            if self.alg == "ES256":
                signature = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
            prepared.append((signing_input.encode(), signature))
        public: Any = self.public
        if self.alg == "ES256":
            ecdsa = ec.ECDSA(hashes.SHA256())

            def run() -> None:
                for message, signature in prepared:
                    public.verify(signature, message, ecdsa)

        elif self.alg == "RS256":
            pkcs, sha = padding.PKCS1v15(), hashes.SHA256()

            def run() -> None:
                for message, signature in prepared:
                    public.verify(signature, message, pkcs, sha)

        else:

            def run() -> None:
                for message, signature in prepared:
                    public.verify(signature, message)

        return run


def _verifier(issuer: Issuer, cache_size: int | None) -> Verifier:
    options: dict[str, Any] = {}
    if cache_size is not None:
        options["cache_size"] = cache_size
    verifier = Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_source=MemorySource(json.dumps({"keys": [issuer.jwk]})),
        revocations=MemoryRevocations(),
        **options,
    )
    verifier.verify(issuer.mint())  # fetch the key set before any timing
    return verifier


def _timed(run: Callable[[], None]) -> float:
    gc.collect()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_alg(
    alg: str, repeats: int, batch: int, order: Callable[[int], list[str]]
) -> dict[str, Any]:
    issuer = Issuer(alg)
    verifier = _verifier(issuer, None)
    nocache = _verifier(issuer, 0)
    hot = [issuer.mint() for _ in range(64)]
    for token in hot:
        verifier.verify(token)
    cycled = [hot[i % len(hot)] for i in range(batch * CACHED_ROUNDS)]
    per_token: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for repeat in range(repeats):
        fresh = {name: [issuer.mint() for _ in range(batch)] for name in CONTENDERS}
        runs: dict[str, Callable[[], None]] = {
            "raw": issuer.raw_verifier(fresh["raw"]),
            "pyjwt": lambda ts=fresh["pyjwt"]: (
                [
                    jwt.decode(t, issuer.public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
                    for t in ts
                ]
                and None
            ),
            "verifier": lambda ts=fresh["verifier"]: [verifier.verify(t) for t in ts] and None,
            "verifier_nocache": lambda ts=fresh["verifier_nocache"]: (
                [nocache.verify(t) for t in ts] and None
            ),
            "cached": lambda: [verifier.verify(t) for t in cycled] and None,
        }
        for name in order(repeat):
            calls = len(cycled) if name == "cached" else batch
            per_token[name].append(_timed(runs[name]) / calls)
    ratios = {
        f"{name}_vs_raw": summary(
            [r / c for r, c in zip(per_token["raw"], per_token[name], strict=True)]
        )
        for name in CONTENDERS
        if name != "raw"
    }
    ratios["verifier_vs_pyjwt"] = summary(
        [p / v for p, v in zip(per_token["pyjwt"], per_token["verifier"], strict=True)]
    )
    ratios["verifier_nocache_vs_pyjwt"] = summary(
        [p / v for p, v in zip(per_token["pyjwt"], per_token["verifier_nocache"], strict=True)]
    )
    return {
        "microseconds_per_token": {
            name: summary([t * 1e6 for t in values]) for name, values in per_token.items()
        },
        "ratios": ratios,
    }


def measure(args: argparse.Namespace, seed: int = 1) -> dict[str, Any]:
    order = shuffled(random.Random(seed), CONTENDERS)
    return {
        "settings": {
            "repeats": args.repeats,
            "batch": args.batch,
            "pinned_cpus": list(CLIENT_CPUS),
            "cached_tokens_cycled": 64,
            "cached_calls_per_batch": args.batch * CACHED_ROUNDS,
        },
        "targets": bars("verify"),
        "results": {alg: bench_alg(alg, args.repeats, args.batch, order) for alg in ALGORITHMS},
    }


def report(data: dict[str, Any]) -> str:
    lines = [
        f"{'alg':6} {'verifier/raw':>20} {'verifier/pyjwt':>20} {'nocache/raw':>20} "
        f"{'cached/raw':>22} {'pyjwt/raw':>20}"
    ]
    for alg, result in data["results"].items():
        r = result["ratios"]
        lines.append(
            f"{alg:6} {fmt_ratio(r['verifier_vs_raw']):>20} {fmt_ratio(r['verifier_vs_pyjwt']):>20}"
            f" {fmt_ratio(r['verifier_nocache_vs_raw']):>20} "
            f"{fmt_ratio(r['cached_vs_raw'], 1):>22} {fmt_ratio(r['pyjwt_vs_raw']):>20}"
        )
    lines.append(console_line("verify") + " (median, min–max over repeats)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_benchmark("verify", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
