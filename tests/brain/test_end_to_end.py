"""The run command, offline: a replay run files a discovered strategy, and asks nobody to approve it
unless it passed every gate (on a few hundred simulated bars it cannot: not enough evidence).

The bot runs as a real subprocess with ``--duration`` as an upper bound; the test stops it with
SIGTERM (a clean shutdown, exit 0) as soon as the discovery is on disk, so a fast machine does
not wait and a loaded one is not failed by a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _discovered(root: Path) -> bool:
    log = root / "logs" / "ai_lab.log"
    return (any((root / "strategies").rglob("*.json")) and log.exists()
            and "AI cycle 1:" in log.read_text())


def test_a_replay_run_discovers_and_files_a_strategy(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    bot = subprocess.Popen([sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(root), "--duration",
                            "240"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 230
        while time.monotonic() < deadline and bot.poll() is None and not _discovered(root):
            time.sleep(0.5)
        time.sleep(1.0)  # let the alert's log line and the dry-run step land
        bot.send_signal(signal.SIGTERM)
        _out, err = bot.communicate(timeout=60)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()

    assert bot.returncode == 0, err[-2000:]
    files = sorted((root / "strategies").rglob("*.json"))
    assert files, "no strategy was filed"
    body = json.loads(files[0].read_text())
    perf = body["performance"]
    assert perf["backtest"]["bars"] > 0
    assert "total_return" in perf["backtest"]
    assert perf["out_of_sample"]["trades"] >= 1
    assert "sharpe" in perf["out_of_sample"]
    assert body["source"]["reasoning"]
    assert body["source"]["generator"] in ("templates", "evolutionary")
    assert body["history"][0]["actor"] == "ai"
    log = (root / "logs" / "ai_lab.log").read_text()
    if body["verdict"]["passed"]:
        assert f"ALERT [info] Strategy discovered: {body['id']}" in log
    else:
        assert body["status"] == "rejected"
        assert "gates did not pass" in body["history"][-1]["reason"]
        assert "not enough evidence" in " ".join(body["verdict"]["reasons"])
        assert "Approval waiting" not in log
    assert "LLM generator off (no GEMINI_API_KEY)" in log
