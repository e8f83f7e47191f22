"""The data folder of `identity dev`: its SQLite database, master key and credentials, owner-only.

The folder is made 0700 and every file in it 0600 each time it is opened, also when it already
existed with looser modes (created by hand, by a shell with umask 022, or by an older version).
SQLite creates a database's `-wal` and `-shm` files with the mode of the database file itself,
so the database file is created here, 0600, before SQLite ever opens it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from identity.domain.master_key import MasterKey

DIR_MODE = 0o700
FILE_MODE = 0o600
DATABASE = "identity.db"
MASTER_KEY = "master.key"
CREDENTIALS = "credentials.json"
DEV_ROLES = ("edge", "service", "admin")


def make_private(data_dir: Path) -> None:
    """Create the folder if needed, then restrict it and every file in it to the owner."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(data_dir, DIR_MODE)
    for entry in data_dir.iterdir():
        # A symbolic link is left alone: chmod would change whatever it points to.
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, FILE_MODE)


def database_url(data_dir: Path) -> str:
    """The SQLite URL of the folder's database, whose file exists (0600) once this returns."""
    path = (data_dir / DATABASE).resolve()
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))  # an empty file is a database
    return f"sqlite+aiosqlite:///{path}"


def master_key(data_dir: Path) -> str:
    """The dev master key, made once into a 0600 file of the data folder."""
    path = data_dir / MASTER_KEY
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(MasterKey.generate_base64() + "\n")
    return path.read_text().strip()


def read_credentials(data_dir: Path) -> dict[str, str]:
    """The dev credential of each role kept so far (role -> secret)."""
    path = data_dir / CREDENTIALS
    if not path.exists():
        return {}
    return {k: v for k, v in json.loads(path.read_text()).items() if k in DEV_ROLES}


def write_credentials(data_dir: Path, secrets: dict[str, str]) -> None:
    """Replace the credentials file at once, never readable by anyone but the owner."""
    path = data_dir / CREDENTIALS
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        json.dump(secrets, handle, indent=2)
    os.replace(tmp, path)
