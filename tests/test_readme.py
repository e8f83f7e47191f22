"""The README stays true: its configuration tables are the ones the settings declarations render."""

from pathlib import Path

import pytest

from edge_http.config import VARIABLES as EDGE_VARIABLES
from identity.config import VARIABLES
from identity.config_schema import markdown_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REGENERATE = "scripts/gen-config-tables writes it"


def test_every_identity_variable_is_documented_with_its_default():
    table = markdown_table(VARIABLES)
    assert table in README, f"README's identity table should read ({REGENERATE}):\n{table}"


@pytest.mark.parametrize("readme", ["README.md", "edge_http/README.md"])
def test_every_edge_variable_is_documented_with_its_default(readme):
    table = markdown_table(EDGE_VARIABLES)
    assert table in (ROOT / readme).read_text(), (
        f"{readme}'s edge table should read ({REGENERATE}):\n{table}"
    )


def test_the_readme_opens_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "scripts/dev" in first_block and "scripts/test" in first_block
