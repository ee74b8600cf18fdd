"""The jooksms command, run as a real process on a SQLite database of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "JOOKSMS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "jooksms", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
