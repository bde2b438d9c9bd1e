"""Fixtures of the evaluator tests: the shared real candles (skipped when absent)."""

from __future__ import annotations

import pytest

from src.market.history import load_funding
from src.strategy.data import Funding
from tests.conftest import data_file


@pytest.fixture(scope="session")
def btc_funding() -> Funding:
    return load_funding(data_file("binanceusdm_BTC-USDT_funding-8h.csv.gz"))
