"""deploy.sh: fast-forward, install, test, restart, health check — and rollback when any of it fails.

A temp "origin" repository and a checkout of it stand in for GitHub and the VPS; the install, test,
restart and health commands are substituted through the environment, so nothing is installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import HttpSink, run_shell

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                         env={**GIT_ENV, "PATH": os.environ.get("PATH", "")})
    return out.stdout.strip()


class Repos:
    """origin (bare), app (the deployed checkout) and dev (where new commits come from)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.origin, self.app, self.dev = base / "origin.git", base / "app", base / "dev"
        git(base, "init", "-q", "--bare", "-b", "main", str(self.origin))
        git(base, "clone", "-q", str(self.origin), str(self.dev))
        self.first = self.push("good")
        git(base, "clone", "-q", str(self.origin), str(self.app))

    def push(self, version: str) -> str:
        (self.dev / "VERSION").write_text(version + "\n")
        git(self.dev, "add", "VERSION")
        git(self.dev, "commit", "-q", "-m", f"version {version}")
        git(self.dev, "push", "-q", "origin", "HEAD:main")
        return git(self.dev, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.app, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path)


def _env(repos: Repos, sink: HttpSink, **extra: str) -> dict[str, str]:
    env_file = repos.base / "bot.env"
    env_file.write_text("TELEGRAM_BOT_TOKEN=42:tok\nTELEGRAM_CHAT_IDS=7\n")
    return {**GIT_ENV, "APP_DIR": str(repos.app), "BOT_ROOT": str(repos.base / "root"), "ENV_FILE": str(env_file),
            "TELEGRAM_API_URL": sink.base_url, "INSTALL_CMD": "true", "TEST_CMD": "true",
            "RESTART_CMD": f"cat VERSION >> {repos.base / 'restarts.txt'}",
            "HEALTH_CMD": "grep -q '^good' VERSION", "HEALTH_TIMEOUT_S": "1", "HEALTH_POLL_S": "0.2", **extra}


def _restarts(repos: Repos) -> list[str]:
    path = repos.base / "restarts.txt"
    return path.read_text().split() if path.exists() else []


async def test_unhealthy_release_is_rolled_back(repos: Repos, sink: HttpSink) -> None:
    repos.push("broken")

    code, out = await run_shell("deploy.sh", _env(repos, sink))

    assert code == 1, out
    assert repos.head() == repos.first
    assert (repos.app / "VERSION").read_text().strip() == "good"
    assert _restarts(repos) == ["broken", "good"]  # restarted into the new one, then back into the old one
    assert "rolled back" in sink.messages()[-1]["text"]


async def test_healthy_release_stays(repos: Repos, sink: HttpSink) -> None:
    second = repos.push("good-2")

    code, out = await run_shell("deploy.sh", _env(repos, sink))

    assert code == 0, out
    assert repos.head() == second
    assert _restarts(repos) == ["good-2"]
    assert (repos.app / ".deploy" / "previous").read_text().strip() == repos.first
    assert "healthy" in sink.messages()[-1]["text"]


async def test_failing_tests_roll_back_without_a_restart(repos: Repos, sink: HttpSink) -> None:
    repos.push("good-but-untested")

    code, out = await run_shell("deploy.sh", _env(repos, sink, TEST_CMD="false"))

    assert code == 1, out
    assert repos.head() == repos.first
    assert _restarts(repos) == []
    assert "tests failed" in sink.messages()[-1]["text"]


async def test_rollback_that_is_unhealthy_too_needs_a_person(repos: Repos, sink: HttpSink) -> None:
    repos.push("good-2")

    code, out = await run_shell("deploy.sh", _env(repos, sink, HEALTH_CMD="false"))

    assert code == 2, out
    assert repos.head() == repos.first
    assert "needs a person" in sink.messages()[-1]["text"]


async def test_local_edits_stop_the_deploy(repos: Repos, sink: HttpSink) -> None:
    repos.push("good-2")
    (repos.app / "VERSION").write_text("edited on the server\n")

    code, out = await run_shell("deploy.sh", _env(repos, sink))

    assert code == 1, out
    assert repos.head() == repos.first
    assert _restarts(repos) == []
    assert (repos.app / "VERSION").read_text() == "edited on the server\n"  # nothing lost


async def test_up_to_date_does_nothing(repos: Repos, sink: HttpSink) -> None:
    code, out = await run_shell("deploy.sh", _env(repos, sink))

    assert code == 0
    assert "up to date" in out
    assert _restarts(repos) == []
    assert sink.messages() == []


async def test_hold_file_deploys_without_starting(repos: Repos, sink: HttpSink) -> None:
    second = repos.push("good-2")
    (repos.base / "root").mkdir()
    (repos.base / "root" / "STOPPED").write_text("{}")

    code, out = await run_shell("deploy.sh", _env(repos, sink))

    assert code == 0, out
    assert repos.head() == second
    assert _restarts(repos) == []
    assert "left stopped" in out


async def test_manual_rollback(repos: Repos, sink: HttpSink) -> None:
    repos.push("good-2")
    assert (await run_shell("deploy.sh", _env(repos, sink)))[0] == 0

    code, out = await run_shell("deploy.sh", _env(repos, sink), "--rollback")

    assert code == 1, out  # "rolled back": not a deploy
    assert repos.head() == repos.first
    assert _restarts(repos) == ["good-2", "good"]


FAKE_BOT = """import json, os, sys, time
root = sys.argv[1]
os.makedirs(os.path.join(root, "state"), exist_ok=True)
open(os.path.join(root, "state", "bot.pid"), "w").write(str(os.getpid()))
end = time.time() + 20
while time.time() < end:
    hb = {"pid": os.getpid(), "state": "running", "updated_at_epoch": time.time()}
    open(os.path.join(root, "state", "heartbeat.json"), "w").write(json.dumps(hb, indent=2))
    time.sleep(0.2)
"""


async def test_builtin_health_check_waits_for_a_fresh_heartbeat(repos: Repos, sink: HttpSink) -> None:
    """Without HEALTH_CMD, healthy = a live ai_trading_lab process whose heartbeat is newer than the restart."""
    root = repos.base / "root"
    script = repos.base / "ai_trading_lab_standin.py"
    script.write_text(FAKE_BOT)
    second = repos.push("good-2")
    env = _env(repos, sink, RESTART_CMD=f"{sys.executable} {script} {root} > /dev/null 2>&1 &", HEALTH_TIMEOUT_S="10")
    env.pop("HEALTH_CMD")
    try:
        code, out = await run_shell("deploy.sh", env)
    finally:
        pid = (root / "state" / "bot.pid").read_text().strip() if (root / "state" / "bot.pid").exists() else ""
        if pid:
            os.kill(int(pid), signal.SIGKILL)

    assert code == 0, out
    assert repos.head() == second


async def test_builtin_health_check_fails_without_a_bot(repos: Repos, sink: HttpSink) -> None:
    repos.push("good-2")
    env = _env(repos, sink, RESTART_CMD="true", HEALTH_TIMEOUT_S="1")
    env.pop("HEALTH_CMD")

    code, out = await run_shell("deploy.sh", env)

    assert code == 2, out  # the rollback has no bot either: a person must look
    assert repos.head() == repos.first


def test_default_tests_are_the_smoke_subset() -> None:
    """deploy.sh runs only the fast `smoke` marker by default, and that marker selects real tests."""
    script = (Path(__file__).resolve().parents[2] / "deploy" / "deploy.sh").read_text()
    default = next(line for line in script.splitlines() if line.startswith('TEST_CMD="${TEST_CMD:-'))
    assert "-m smoke" in default
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "smoke",
                             "-p", "no:cacheprovider"], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=120, check=False)
    counts = dict(line.rsplit(": ", 1) for line in listed.stdout.splitlines() if line.startswith("tests/"))
    assert sum(int(n) for n in counts.values()) >= 30
    assert "tests/telegram/test_admin_session.py" in counts
    assert not any("crash" in name for name in counts)
