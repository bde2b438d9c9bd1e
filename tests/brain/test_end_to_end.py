"""The run command, offline: a replay run files a discovered strategy and logs the discovery alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_replay_run_discovers_and_files_a_strategy(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}

    ran = subprocess.run([sys.executable, str(REPO / "ai_trading_lab.py"), "--root", str(root), "--duration", "20"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    assert ran.returncode == 0, ran.stderr[-2000:]
    files = sorted((root / "strategies" / "testing").glob("*.json"))
    assert files, "no strategy reached strategies/testing"
    body = json.loads(files[0].read_text())
    perf = body["performance"]
    assert perf["backtest"]["bars"] > 0 and "total_return" in perf["backtest"]
    assert perf["out_of_sample"]["trades"] >= 1 and "sharpe" in perf["out_of_sample"]
    assert body["source"]["reasoning"] and body["source"]["generator"] in ("templates", "evolutionary")
    assert body["history"][0]["actor"] == "ai"
    log = (root / "logs" / "ai_lab.log").read_text()
    assert f"ALERT [info] Strategy discovered: {body['id']}" in log
    assert "LLM generator off (no GEMINI_API_KEY)" in log
