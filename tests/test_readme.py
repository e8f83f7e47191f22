"""The README stays true: its configuration table lists every variable with its default."""

import re
from pathlib import Path

from identity.config import VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_identity_variable_is_documented_with_its_default():
    for name, (default, _) in VARIABLES.items():
        row = re.search(rf"^\| `{name}` \|(.*)\|$", README, re.MULTILINE)
        assert row, f"{name} missing from README"
        assert default in row.group(1), f"{name}: default {default!r} not in README"


def test_the_readme_opens_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "scripts/dev" in first_block and "scripts/test" in first_block
