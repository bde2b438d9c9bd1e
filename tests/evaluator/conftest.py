"""Fixtures of the evaluator tests: the shared real candles (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_brain.backtest_data import Candles, Funding, load_candles, load_funding

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"shared data file {name} not available")
    return path


@pytest.fixture(scope="session")
def btc_1h() -> Candles:
    return load_candles(data_file("binance_BTC-USDT_1h.csv.gz"))


@pytest.fixture(scope="session")
def btc_funding() -> Funding:
    return load_funding(data_file("binanceusdm_BTC-USDT_funding-8h.csv.gz"))
