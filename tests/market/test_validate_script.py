"""scripts/validate_data.py: the report and the exit code a shell or cron job can act on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scripts.validate_data import main
from src.market.candles_io import write_candles

REPO_ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000


def _candles(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame({"timestamp": 1_700_000_000_000 // HOUR * HOUR + HOUR * np.arange(n), "open": open_,
                         "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
                         "close": close, "volume": rng.uniform(1, 5, n)})


@pytest.mark.parametrize(("spoil", "code"), [("none", 0), ("gap", 1), ("nan", 2), ("dup", 2)])
def test_exit_code_is_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: str,
                                  code: int) -> None:
    df = _candles()
    if spoil == "gap":
        df = df.drop(index=range(100, 103))
    elif spoil == "nan":
        df.loc[50, "close"] = np.nan
    elif spoil == "dup":
        df = pd.concat([df, df.iloc[[10]]]).sort_index(kind="stable")
    path = tmp_path / "c.csv.gz"
    write_candles(path, df)

    rc = main([str(path), "--json"])

    rep = json.loads(capsys.readouterr().out)
    assert rc == code
    assert rep["verdict"] == ["OK", "DEGRADED", "BLOCKED"][code]
    if spoil == "gap":
        assert rep["findings"]["gap"]["first_timestamps"] == [int(df["timestamp"].iloc[100 - 1]) + HOUR]


def test_unreadable_file_is_blocked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1,a,b,c,d,e\n")

    assert main([str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().out


def test_stale_tail_with_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.csv"
    write_candles(path, _candles())

    assert main([str(path), "--now", "now"]) == 2
    assert "stale" in capsys.readouterr().out


def test_runs_as_a_file_with_help() -> None:
    out = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "validate_data.py"), "--help"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert "DEGRADED" in out.stdout
