"""Every script's --help works from any directory (run as a file, the way a person runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py") if not p.name.startswith("_")
                 and p.name not in ("common.py",))


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_from_another_directory(name: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / name), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith("usage:")
    assert "Traceback" not in proc.stderr
