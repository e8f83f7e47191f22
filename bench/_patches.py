"""Monkeypatches for bench.experiments, applied inside an identity process by bench.serve_counted
when BENCH_EXPERIMENTS names them. They exist only to measure a proposed change before it is
made for real in the file it belongs to; nothing in the product imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DESCRIPTIONS = {
    "handler_cache": "identity/rpc/auth.py: memoise _wrap(handler, caller, name) instead of "
    "building a new RpcMethodHandler and closures on every call",
}


def handler_cache() -> None:
    from identity.rpc import auth

    original: Callable[..., Any] = auth._wrap
    memo: dict[tuple[Any, Any, str], Any] = {}

    def wrap(handler: Any, caller: Any, name: str) -> Any:
        key = (handler, caller, name)
        wrapped = memo.get(key)
        if wrapped is None:
            wrapped = memo[key] = original(handler, caller, name)
        return wrapped

    auth._wrap = wrap  # type: ignore[assignment]


PATCHES: dict[str, Callable[[], None]] = {
    "handler_cache": handler_cache,
}


def apply(names: str) -> None:
    for name in filter(None, (n.strip() for n in names.split(","))):
        PATCHES[name]()
