"""The systemd unit and cron file as install.sh renders them: complete, and accepted by systemd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, REPO


def _render(*args: str) -> str:
    out = subprocess.run(["bash", str(DEPLOY / "install.sh"), *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_unit_has_restarts_limits_and_the_env_file() -> None:
    unit = _render("--print-unit", "--user", "ailab")

    assert "@" not in unit.replace("multi-user.target", "")
    lines = set(unit.splitlines())
    for expected in ("Restart=always", "User=ailab", f"WorkingDirectory={REPO}", f"EnvironmentFile=-{REPO}/.env",
                     f"ConditionPathExists=!{REPO}/STOPPED", "KillSignal=SIGTERM", "RestartPreventExitStatus=2 3"):
        assert expected in lines, expected
    keys = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    assert {"MemoryMax", "LimitNOFILE", "TimeoutStopSec"} <= keys
    assert f"--root {REPO} --config {REPO}/config.local.yaml" in unit


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "ai-trading-lab.service"
    unit.write_text(_render("--print-unit", "--user", "root"))

    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)

    problems = [line for line in (out.stdout + out.stderr).splitlines() if "ai-trading-lab.service" in line]
    assert problems == [], problems


def test_cron_runs_the_monitor_every_five_minutes() -> None:
    cron = _render("--print-cron", "--user", "ailab")

    assert f"*/5 * * * * ailab {REPO}/deploy/monitor_bot.sh" in cron


def test_unknown_option_is_refused() -> None:
    out = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown option" in out.stderr
