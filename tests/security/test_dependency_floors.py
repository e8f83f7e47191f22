"""Checklist JWT-18 / GA-10: the installed libraries are at least the versions whose fixes the
design relies on (DESIGN §4: PyJWT 2.14 for nested JSON; grpcio 1.68 for the advisories up to
CVE-2024-11407), and pyproject.toml asks for no less. pip-audit needs the vulnerability
database online, which CI here does not have; these floors are what can be checked offline."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

FLOORS = {
    "pyjwt": "2.14",
    "grpcio": "1.68",
    "grpcio-reflection": "1.68",
    "grpcio-health-checking": "1.68",
    "cryptography": "44",
}
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.mark.parametrize("package,floor", FLOORS.items())
def test_installed_and_declared_versions_are_at_least_the_floor(package, floor):
    assert Version(version(package)) >= Version(floor), package
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    declared = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower(): d for d in dependencies}
    spec = declared[package]
    found = re.search(r">=\s*([0-9.]+)", spec)
    assert found and Version(found.group(1)) >= Version(floor), spec
