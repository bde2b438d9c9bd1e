"""scripts/backtest.py: the bot's own strategy files, whole-period figures, bad input in one line."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.strategy.spec import family_spec
from tests.conftest import data_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    """The first 3,000 real BTC/USDT hours: enough for every split, quick to backtest."""
    with gzip.open(data_file("binance_BTC-USDT_1h.csv.gz"), "rt") as fh:
        lines = fh.read().splitlines()[:3001]
    path = tmp_path / "binance_BTC-USDT_1h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "backtest.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_bot_strategy_file_with_whole_period_figures(candles: Path, tmp_path: Path) -> None:
    record = {"id": "S1", "name": "momentum 10/50", "type": "momentum", "status": "approved",
              "spec": family_spec("momentum", fast=10, slow=50).model_dump(mode="json"),
              "source": {"generator": "grid", "reasoning": "test", "hypothesis_id": "h1"},
              "performance": {}, "provenance": {"hypothesis_id": "h1"}, "history": [],
              "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    folder = tmp_path / "strategies" / "active"
    folder.mkdir(parents=True)
    (folder / "S1.json").write_text(json.dumps(record))
    done = run("--data", str(candles), "--strategy", "strategies/active/S1.json", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"full", "in_sample", "out_of_sample"} <= set(out)
    assert out["full"]["trades"] >= out["out_of_sample"]["trades"]
    text = run("--data", str(candles), "--strategy", str(folder / "S1.json"), cwd=tmp_path)
    assert "whole period" in text.stdout.splitlines()[1]


@pytest.mark.parametrize(("args", "expected"), [
    (["--data", "/nonexistent.csv", "--family", "momentum"], "cannot read the data"),
    (["--family", "momentum", "--param", "fats=10"], "invalid strategy: fats: Extra inputs are not permitted"),
    (["--strategy", "missing.json"], "invalid strategy"),
])
def test_bad_input_is_one_line(args: list[str], expected: str, candles: Path, tmp_path: Path) -> None:
    full = args if "--data" in args else ["--data", str(candles), *args]
    done = run(*full, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "https://" not in done.stderr
