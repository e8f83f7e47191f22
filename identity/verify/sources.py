"""Where a Verifier gets its JWK Set: the source interface and the HTTP source.

A source only fetches a URL or target fixed in configuration; nothing in a token (`jku`, `x5u`)
ever names what is fetched.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass
from typing import Protocol

import httpx

from identity.verify.keyset import MAX_JWKS_BYTES

DEFAULT_FETCH_TIMEOUT = 5.0
_MAX_AGE = re.compile(r'(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?=,|$)', re.I)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?=,|=|$)", re.I)


class JwksFetchError(Exception):
    """A fetch failed (transport, status, size or time); the verifier keeps its last JWK Set."""


@dataclass(frozen=True)
class FetchedJwks:
    """One answer of a source. `document` is None when the source says "not modified"."""

    document: str | bytes | None
    max_age: float | None = None
    etag: str | None = None


class JwksSource(Protocol):
    """Fetches the JWK Set; `etag` is the validator of the set the caller already holds."""

    def fetch(self, etag: str | None) -> FetchedJwks: ...

    async def afetch(self, etag: str | None) -> FetchedJwks: ...


def max_age_of(cache_control: str | None) -> float | None:
    """Seconds from a Cache-Control header; 0 for no-store/no-cache, None when it says nothing."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


class HttpJwksSource:
    """GET a JWK Set URL (no redirects followed), honouring Cache-Control and ETag."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_FETCH_TIMEOUT, max_bytes: int = MAX_JWKS_BYTES
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http:// or https:// URL")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ssl_context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        # Building a context loads the CA bundle (tens of ms); do it once, not once per fetch.
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def __repr__(self) -> str:
        return f"HttpJwksSource({self.url!r})"

    def fetch(self, etag: str | None) -> FetchedJwks:
        deadline = time.monotonic() + self._timeout
        try:
            with (
                httpx.Client(
                    timeout=self._timeout, follow_redirects=False, verify=self._tls()
                ) as client,
                client.stream("GET", self.url, headers=_request_headers(etag)) as response,
            ):
                if response.status_code == 304:
                    return _not_modified(response, etag)
                _check(response, self._max_bytes)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksFetchError("JWK Set response too large")
                    if time.monotonic() > deadline:
                        raise JwksFetchError("JWK Set fetch timed out")
                return _fetched(response, bytes(body))
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"JWK Set fetch failed: {type(exc).__name__}") from exc

    async def afetch(self, etag: str | None) -> FetchedJwks:
        try:
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(
                    timeout=self._timeout, follow_redirects=False, verify=self._tls()
                ) as client,
                client.stream("GET", self.url, headers=_request_headers(etag)) as response,
            ):
                if response.status_code == 304:
                    return _not_modified(response, etag)
                _check(response, self._max_bytes)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksFetchError("JWK Set response too large")
                return _fetched(response, bytes(body))
        except TimeoutError:
            raise JwksFetchError("JWK Set fetch timed out") from None
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"JWK Set fetch failed: {type(exc).__name__}") from exc


def _request_headers(etag: str | None) -> dict[str, str]:
    headers = {"accept": "application/jwk-set+json, application/json"}
    if etag:
        headers["if-none-match"] = etag
    return headers


def _check(response: httpx.Response, max_bytes: int) -> None:
    if response.status_code != 200:
        raise JwksFetchError(f"JWK Set endpoint answered HTTP {response.status_code}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise JwksFetchError("JWK Set response too large")


def _not_modified(response: httpx.Response, etag: str | None) -> FetchedJwks:
    cache_control = response.headers.get("cache-control")
    return FetchedJwks(None, max_age_of(cache_control), response.headers.get("etag", etag))


def _fetched(response: httpx.Response, body: bytes) -> FetchedJwks:
    cache_control = response.headers.get("cache-control")
    return FetchedJwks(body, max_age_of(cache_control), response.headers.get("etag"))
