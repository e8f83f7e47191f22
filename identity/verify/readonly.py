"""Read-only JSON values: the claims a Verifier hands out, frozen all the way down.

A cached token's claims are shared by every caller that presents the token again. Freezing
them once, when the token is first verified, lets every hit hand out the same object; copying
them on every hit instead (what the claims cache did for a payload with a list, and every
access token has `amr`) cost more than the rest of a hit put together.

`ReadOnlyList` and `ReadOnlyDict` stay a `list` and a `dict` for everything that reads them:
`isinstance`, `==` with plain values, iteration, `json.dumps` and orjson. Every method that would
change one raises TypeError, as a `MappingProxyType` does. `copy.copy`, `copy.deepcopy` and
pickle give a plain, mutable `list` or `dict`: a caller that wants to edit claims edits a copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: copy it (list(...), dict(...)) to edit")


class ReadOnlyList(list[Any]):
    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(item, memo) for item in self]

    def __reduce__(self) -> tuple[type[list[Any]], tuple[list[Any]]]:
        return list, (list(self),)


class ReadOnlyDict(dict[str, Any]):
    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _refuse
    setdefault = pop = popitem = clear = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)


def read_only_claims(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a caller is handed: a read-only view of the payload, frozen all the way down."""
    return MappingProxyType(frozen_payload(payload))


def frozen_payload(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """A payload (parsed JSON object) whose nested lists and objects are read-only: the payload
    itself when nothing in it nests (the values are then immutable already), else a new dict."""
    if all(type(value) not in _NESTED for value in payload.values()):
        return payload
    return {name: _frozen(value) for name, value in payload.items()}


def _frozen(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return ReadOnlyList(_frozen(item) for item in value)
    if kind is dict:
        # dict.__init__ fills it without calling the refused __setitem__.
        return ReadOnlyDict((name, _frozen(item)) for name, item in value.items())
    return value


_NESTED = frozenset({list, dict})  # JSON's only containers
