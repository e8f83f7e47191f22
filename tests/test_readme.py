"""The README stays true: its configuration tables are the ones the settings declarations render."""

import re
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


DOCS = [
    "README.md",
    "edge_http/README.md",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")),
]
INSTALLED = re.compile(r"(?:^|[\s$(|;&])(identity|edge-http|grpcurl|uvicorn|pytest|python)\s")


@pytest.mark.parametrize("doc", DOCS)
def test_shell_blocks_run_the_installed_commands_from_the_clone(doc):
    """The README's one way to reach the installed commands: `.venv/bin/NAME`, as they run from
    the root of a fresh clone after scripts/install (no activated environment assumed)."""
    text = (ROOT / doc).read_text()
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        for line in block.splitlines():
            command = re.sub(r"\s#.*$", "", line)
            assert not INSTALLED.search(command), f"{doc}: {line!r} (write .venv/bin/…)"
