"""The read-only JSON values the Verifier hands out: a list and a dict to every reader, refusing
every edit, and a plain mutable copy to whoever copies them."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from identity.verify.readonly import ReadOnlyDict, ReadOnlyList, frozen_payload

PAYLOAD = {
    "sub": "u1",
    "amr": ["pwd", "otp"],
    "extra": {"roles": ["a", "b"], "deep": [{"x": 1}]},
    "n": 3,
}


def _frozen() -> Any:
    return frozen_payload(PAYLOAD)


def test_a_payload_without_containers_is_returned_as_it_is() -> None:
    flat = {"sub": "u1", "exp": 1, "email_verified": True}
    assert frozen_payload(flat) is flat


def test_frozen_values_read_as_the_json_they_came_from() -> None:
    frozen = _frozen()
    assert frozen == PAYLOAD
    assert isinstance(frozen["amr"], list) and isinstance(frozen["extra"], dict)
    assert type(frozen["extra"]["deep"][0]) is ReadOnlyDict
    assert json.loads(json.dumps(frozen)) == PAYLOAD
    assert orjson.loads(orjson.dumps(frozen)) == PAYLOAD
    assert frozen["amr"] + ["x"] == ["pwd", "otp", "x"]


LIST_EDITS: list[Callable[[list[Any]], object]] = [
    lambda v: v.append("x"),
    lambda v: v.extend(["x"]),
    lambda v: v.insert(0, "x"),
    lambda v: v.pop(),
    lambda v: v.remove("pwd"),
    lambda v: v.clear(),
    lambda v: v.sort(),
    lambda v: v.reverse(),
    lambda v: v.__setitem__(0, "x"),
    lambda v: v.__setitem__(slice(0, 1), ["x"]),
    lambda v: v.__delitem__(0),
    lambda v: v.__iadd__(["x"]),
    lambda v: v.__imul__(2),
]
DICT_EDITS: list[Callable[[dict[str, Any]], object]] = [
    lambda d: d.__setitem__("k", 1),
    lambda d: d.__delitem__("roles"),
    lambda d: d.update(k=1),
    lambda d: d.setdefault("k", 1),
    lambda d: d.pop("roles"),
    lambda d: d.popitem(),
    lambda d: d.clear(),
    lambda d: d.__ior__({"k": 1}),
]


@pytest.mark.parametrize("edit", LIST_EDITS)
def test_every_list_edit_is_refused(edit: Callable[[list[Any]], object]) -> None:
    frozen = _frozen()
    with pytest.raises(TypeError, match="read-only"):
        edit(frozen["amr"])
    assert frozen["amr"] == ["pwd", "otp"]


@pytest.mark.parametrize("edit", DICT_EDITS)
def test_every_dict_edit_is_refused(edit: Callable[[dict[str, Any]], object]) -> None:
    frozen = _frozen()
    with pytest.raises(TypeError, match="read-only"):
        edit(frozen["extra"])
    assert frozen["extra"] == PAYLOAD["extra"]


def test_in_place_operators_refuse_without_rebinding() -> None:
    amr = _frozen()["amr"]
    alias = amr
    with pytest.raises(TypeError):
        amr += ["x"]
    assert alias == ["pwd", "otp"]


@pytest.mark.parametrize(
    "make_copy",
    [copy.copy, copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v)), list, dict],
    ids=["copy", "deepcopy", "pickle", "list", "dict"],
)
def test_a_copy_is_plain_and_editable(make_copy: Callable[[Any], Any]) -> None:
    frozen = _frozen()
    source = frozen["extra"] if make_copy is dict else frozen["amr"]
    copied = make_copy(source)
    assert type(copied) in (list, dict) and copied == source
    if isinstance(copied, list):
        copied.append("x")
    else:
        copied["k"] = 1
    assert frozen == PAYLOAD


def test_a_deep_copy_is_editable_all_the_way_down() -> None:
    copied = copy.deepcopy(dict(_frozen()))
    copied["extra"]["deep"][0]["x"] = 2
    copied["extra"]["roles"].append("c")
    assert type(copied["extra"]["deep"][0]) is dict
    assert _frozen() == PAYLOAD


def test_the_read_only_types_hold_no_per_instance_dict() -> None:
    # __slots__ = (): nothing can be attached to one either.
    with pytest.raises(AttributeError):
        ReadOnlyList().note = 1  # type: ignore[attr-defined]
