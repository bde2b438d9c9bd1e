"""The run command end to end: a real bot process in replay mode on the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bot(root: Path, *extra: str, duration: float = 4.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(root),
                           "--duration", str(duration), "--speed", "36000", *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.smoke
def test_duration_run_prints_status_and_exits_zero(tmp_path: Path) -> None:
    proc = run_bot(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    status_lines = [ln for ln in proc.stdout.splitlines() if " status: [" in ln]
    assert status_lines, proc.stdout[-2000:]
    assert "BTC/USDT" in status_lines[-1]
    assert "equity" in status_lines[-1]
    hb = json.loads((tmp_path / "state" / "heartbeat.json").read_text())
    assert hb["state"] == "stopped"
    assert hb["mode"] == "replay"
    assert not (tmp_path / "state" / "bot.pid").exists()
    log_lines = (tmp_path / "logs" / "ai_lab.log").read_text().splitlines()
    assert log_lines
    assert all(json.loads(ln)["msg"] is not None for ln in log_lines)
    # a brand-new root is a first start, not a lost safety file: the bot trades, nobody is alerted
    assert "Started HALTED" not in proc.stdout + proc.stderr
    assert "running" in status_lines[-1]
    assert json.loads((tmp_path / "state" / "control.json").read_text())["holds"] == {}


def test_corrupt_control_file_is_quarantined_and_the_bot_starts_halted(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(parents=True)
    (tmp_path / "state" / "control.json").write_text('{"paused": "maybe"')
    proc = run_bot(tmp_path, duration=2.0)
    assert proc.returncode == 0, proc.stderr[-2000:]
    quarantined = list((tmp_path / "state" / "quarantine").iterdir())
    assert len(quarantined) == 1
    assert quarantined[0].name.startswith("control.json")
    assert "control.json failed its check" in proc.stdout
    assert "Started HALTED: control.json lost" in proc.stdout  # the action alert reached the console
    saved = json.loads((tmp_path / "state" / "control.json").read_text())
    assert saved.get("holds", {}).get("safety_file", {}).get("by") == "startup"


def test_an_inbox_others_can_write_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "state" / "inbox").mkdir(parents=True)
    (tmp_path / "state" / "inbox").chmod(0o777)
    proc = run_bot(tmp_path, duration=2.0)
    assert proc.returncode != 0
    assert "writable by group/others" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    env_token = "7777777:SECRET-token-that-must-not-leak"
    proc = subprocess.run([sys.executable, "-c", (
        "import logging,sys; from pathlib import Path; from src.app.logging_setup import setup_logging;"
        f"setup_logging(Path(sys.argv[1]), secrets=['{env_token}']);"
        f"logging.getLogger('x').info('calling https://api.telegram.org/bot{env_token}/getMe');"
        "\ntry:\n raise ValueError('" + env_token + "')\n"
        "except ValueError:\n logging.getLogger('x').exception('fail')"),
        str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "ai_lab.log").read_text() + proc.stdout
    assert env_token not in text
    assert "***" in text


def test_sigterm_stops_within_five_seconds(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(tmp_path),
                             "--speed", "36000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hb_path = tmp_path / "state" / "heartbeat.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (hb_path.exists() and (tmp_path / "state" / "bot.pid").exists()):
        time.sleep(0.1)
    assert int((tmp_path / "state" / "bot.pid").read_text()) == proc.pid
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5.0
    assert json.loads(hb_path.read_text())["state"] == "stopped"


def test_a_hold_file_stops_a_manual_start_in_one_line(tmp_path: Path) -> None:
    """STOPPED keeps the bot down however it is started; --ignore-hold is the explicit way past it."""
    (tmp_path / "STOPPED").write_text(json.dumps({"stopped_by": "ops", "reason": "exchange maintenance"}))
    proc = run_bot(tmp_path, duration=1.0)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "not starting" in proc.stderr
    assert "stopped by ops: exchange maintenance" in proc.stderr
    assert "--ignore-hold" in proc.stderr
    assert not (tmp_path / "state").exists()  # nothing was started, nothing written
    assert run_bot(tmp_path, "--ignore-hold", duration=1.0).returncode == 0
