"""Fixtures of the AI-brain tests: real candles, a strategy repository on a temp folder, a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_brain.discovery.lifecycle import transition_problem
from ai_brain.discovery.strategy_store import Performance, Provenance, Source, StrategyRecord, StrategyStore, Verdict
from src.market.history import load_candles
from src.strategy.data import Candles
from src.strategy.spec import family_spec
from tests.conftest import data_file


@pytest.fixture(scope="session")
def eth_1h() -> Candles:
    return load_candles(data_file("binance_ETH-USDT_1h.csv.gz"))


class FakeClock:
    """Market time in ms that a test moves by hand."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance_hours(self, hours: float) -> None:
        self.now += int(hours * 3_600_000)


def make_record(sid: str, status: str = "backtested", passed: bool = True, score: float = 1.0,
                oos: dict | None = None, regime: str | None = None) -> StrategyRecord:
    """A strategy record as the brain writes it, with controllable verdict and OOS figures."""
    spec = family_spec("momentum", id=sid, name=f"momentum {sid}", symbols=["BTC/USDT"], timeframe="1h")
    oos = oos if oos is not None else {"trades": 40, "total_return": 0.12, "bar_return_mean": 0.0002,
                                       "bar_return_std": 0.004, "sharpe": 1.5, "max_drawdown": 0.08}
    return StrategyRecord(
        id=sid, name=spec.name, type="momentum", status=status, spec=spec,  # type: ignore[arg-type]
        source=Source(generator="templates", reasoning="test", hypothesis_id=f"hyp-{sid}", regime=regime),
        performance=Performance(backtest={"total_return": 0.3}, out_of_sample=oos),
        verdict=Verdict(evaluation_id=f"ev-{sid}", passed=passed, score=score,
                        reasons=["ok"] if passed else ["too few trades"],
                        failed_checks=[] if passed else ["min_trades"]),
        provenance=Provenance(hypothesis_id=f"hyp-{sid}", evaluation_id=f"ev-{sid}"),
        created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list:
    return []


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock, events: list) -> StrategyStore:
    return StrategyStore(tmp_path / "strategies", tmp_path / "state" / "quarantine", clock.now_ms,
                         events.append, allowed=transition_problem)
