"""stop_trading.py: inbox stop, SIGTERM when the inbox is ignored, SIGKILL when the bot is hung."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.scripts.conftest import BotUnderTest, run_script


def test_graceful_stop_through_the_inbox(bot: BotUnderTest) -> None:
    started = time.monotonic()
    ran = run_script("stop_trading.py", bot.root, "--json", "--graceful-timeout", "20")
    elapsed = time.monotonic() - started

    assert ran.code == 0, ran.out + ran.err
    out = ran.json()
    assert out['how'] == 'inbox', out['steps']
    assert out['pid'] == bot.pid, out['steps']
    assert bot.proc.wait(timeout=5) == 0  # a clean exit, not a signal
    assert elapsed < 20
    assert bot.heartbeat()["state"] == "stopped"
    assert not (bot.root / "state" / "bot.pid").exists()
    hold = json.loads((bot.root / "STOPPED").read_text())
    assert hold["pid"] == bot.pid
    assert hold["reason"]
    assert list((bot.root / "state" / "inbox").iterdir()) == []
    assert list((bot.root / "state" / "outbox").iterdir()) == []


def test_hung_bot_is_killed(bot: BotUnderTest) -> None:
    os.kill(bot.pid, signal.SIGSTOP)  # a stopped process ignores its inbox and SIGTERM alike

    ran = run_script("stop_trading.py", bot.root, "--json", "--term-timeout", "1", "--kill-timeout", "5")

    assert ran.code == 0, ran.out + ran.err
    out = ran.json()
    assert out["how"] == "sigkill"
    assert any("SIGKILL" in step for step in out["steps"])
    assert bot.proc.wait(timeout=5) == -signal.SIGKILL
    assert (bot.root / "STOPPED").exists()


def test_inbox_ignored_then_sigterm_and_command_withdrawn(tmp_path: Path, impostor_factory) -> None:
    root = tmp_path / "root"
    imp = impostor_factory(root)

    ran = run_script("stop_trading.py", root, "--json", "--graceful-timeout", "0.5", "--term-timeout", "10",
                     "--no-hold")

    assert ran.code == 0, ran.out + ran.err
    out = ran.json()
    assert out["how"] == "sigterm"
    assert "no answer" in out["steps"][0]
    assert imp.proc.wait(timeout=5) == 0
    assert list((root / "state" / "inbox").iterdir()) == []  # the unanswered stop will not fire on restart
    assert not (root / "STOPPED").exists()
    assert out["hold_file"] is None


def test_sigterm_ignored_escalates_to_sigkill(tmp_path: Path, impostor_factory) -> None:
    root = tmp_path / "root"
    imp = impostor_factory(root, ignore_term=True)

    ran = run_script("stop_trading.py", root, "--graceful-timeout", "0.3", "--term-timeout", "0.5")

    assert ran.code == 0, ran.err
    assert "SIGKILL" in ran.out
    assert "bot stopped" in ran.out
    assert imp.proc.wait(timeout=5) == -signal.SIGKILL


def test_not_running_still_holds(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()

    ran = run_script("stop_trading.py", root, "--json", "--reason", "maintenance window")

    assert ran.code == 0
    assert ran.json()["how"] == "not-running"
    assert json.loads((root / "STOPPED").read_text())["reason"] == "maintenance window"


def test_a_reused_pid_is_never_signalled(tmp_path: Path, impostor_factory) -> None:
    """A stale pid file that points at some other process (here: pytest) must not get a signal."""
    root = tmp_path / "root"
    (root / "state").mkdir(parents=True)
    (root / "state" / "bot.pid").write_text(f"{os.getpid()}\n")

    ran = run_script("stop_trading.py", root, "--json", "--no-hold")

    assert ran.code == 0
    assert ran.json()["how"] == "not-running"


def test_bad_timeouts_are_usage_errors(tmp_path: Path) -> None:
    ran = run_script("stop_trading.py", tmp_path, "--term-timeout", "-1")
    assert ran.code == 2
    assert "--term-timeout must be positive" in ran.err
    assert not (tmp_path / "STOPPED").exists()


def test_wrong_user_skips_the_inbox_but_still_stops(tmp_path: Path, impostor_factory) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the state folder to another user")
    root = tmp_path / "root"
    imp = impostor_factory(root)
    os.chown(root / "state", 65534, 65534)

    ran = run_script("stop_trading.py", root, "--json", "--no-hold")

    assert ran.code == 0, ran.out + ran.err
    assert ran.json()["how"] == "sigterm"
    assert "inbox stop skipped" in ran.json()["steps"][0]
    assert imp.proc.wait(timeout=5) == 0


def test_another_roots_bot_is_never_touched(tmp_path: Path, shared_bot: BotUnderTest) -> None:
    """Two bots on one machine (paper and live, say): a stale pid file that now names the other bot
    must not make this root's scripts report it, or stop it."""
    root = tmp_path / "root"
    (root / "state").mkdir(parents=True)
    (root / "state" / "bot.pid").write_text(f"{shared_bot.pid}\n")

    status = run_script("get_status.py", root, "--json")
    stop = run_script("stop_trading.py", root, "--json", "--no-hold")

    assert status.code == 3
    assert status.json()["process"] is None
    assert stop.code == 0
    assert stop.json()["how"] == "not-running"
    assert shared_bot.proc.poll() is None


def test_a_bot_without_a_pid_file_is_still_found(tmp_path: Path, impostor_factory) -> None:
    """A bot still warming up has no pid file yet; stopping must not miss it."""
    root = tmp_path / "root"
    root.mkdir()
    imp = impostor_factory(root, write_pid=False, argv_root=root)

    ran = run_script("stop_trading.py", root, "--json", "--graceful-timeout", "0.5", "--no-hold")

    assert ran.code == 0, ran.out + ran.err
    assert ran.json()["pid"] == imp.pid
    assert ran.json()["how"] == "sigterm"
