"""Regimes on real candles, the replay buffer across restarts, patterns, and fills → closed trades."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ai_brain.discovery.learning_engine import LearningEngine, TradeAssembler
from ai_brain.discovery.strategy_store import ClosedTrade
from ai_brain.learning.pattern_db import PatternDB, features_at
from ai_brain.learning.regimes import classify_at
from ai_brain.learning.replay_buffer import Experience, PrioritizedReplayBuffer
from src.config.brain import LearningConfig
from src.core.events import Fill
from src.core.timeframes import parse_iso_ms

DAY = 86_400_000


@pytest.mark.parametrize("when", ["2020-03-12T22:00:00Z", "2020-03-13T06:00:00Z", "2022-06-18T12:00:00Z",
                                  "2022-11-10T00:00:00Z"])
def test_crash_windows_are_labelled_crash_or_high_volatility(btc_1h, when) -> None:
    reading = classify_at(btc_1h, parse_iso_ms(when), "BTC/USDT")

    assert reading.label in ("crash", "high_vol"), reading.describe()
    assert reading.vol_percentile >= 0.8
    assert 0.5 <= reading.confidence <= 1.0


def test_2022_reads_as_a_bear_year_and_late_2020_as_a_bull(btc_1h) -> None:
    def tally(start: str, end: str) -> Counter:
        return Counter(classify_at(btc_1h, ts).label
                       for ts in range(parse_iso_ms(start), parse_iso_ms(end), 3 * DAY))

    bear_year, bull_run = tally("2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"), tally(
        "2020-10-10T00:00:00Z", "2021-04-10T00:00:00Z")

    assert bear_year["bear"] + bear_year["crash"] > 3 * bear_year["bull"], bear_year
    assert bull_run["bull"] > 3 * (bull_run["bear"] + bull_run["crash"]), bull_run


def test_a_quiet_range_is_sideways(btc_1h) -> None:
    assert classify_at(btc_1h, parse_iso_ms("2023-08-01T00:00:00Z")).label == "sideways"


def _exp(i: int) -> Experience:
    return Experience(strategy_id="s", symbol="BTC/USDT", entry_ts=i, features=[float(i), 1.0], ret=0.01 * i)


def test_replay_buffer_samples_by_priority_and_survives_a_restart(tmp_path) -> None:
    buf = PrioritizedReplayBuffer(capacity=100, alpha=1.0, beta=0.5)
    for i in range(10):
        buf.add(_exp(i), priority=1.0 if i else 20.0)
    buf.update_priorities(np.array([3]), np.array([5.0]))
    buf.save(tmp_path / "rb.json")

    again = PrioritizedReplayBuffer.load(tmp_path / "rb.json", tmp_path / "q", capacity=100, alpha=1.0, beta=0.5)
    idx, items, weights = again.sample(4000, np.random.default_rng(1))

    assert np.allclose(again.priorities[:10], buf.priorities[:10])
    assert again.max_priority == 20.0
    share = np.bincount(idx, minlength=10) / len(idx)
    assert share[0] == pytest.approx(20 / 33, abs=0.03)
    assert share[3] == pytest.approx(5 / 33, abs=0.02)
    assert weights.max() == 1.0
    assert weights[idx == 0].max() < weights[idx == 1].min()
    assert items[0].symbol == "BTC/USDT"


def test_replay_buffer_capacity_is_a_ring(tmp_path) -> None:
    buf = PrioritizedReplayBuffer(capacity=10_000)
    for i in range(10_050):
        buf.add(_exp(i), priority=1.0)
    buf.save(tmp_path / "rb.json")

    again = PrioritizedReplayBuffer.load(tmp_path / "rb.json", tmp_path / "q")

    assert len(buf) == len(again) == 10_000
    assert again.next_slot == 50
    assert min(e.entry_ts for e in again.items) == 50


def test_pattern_db_finds_the_nearest_states(btc_1h) -> None:
    db = PatternDB()
    crash = features_at(btc_1h, int(np.searchsorted(btc_1h.ts, parse_iso_ms("2020-03-13T00:00:00Z"))))
    calm = features_at(btc_1h, int(np.searchsorted(btc_1h.ts, parse_iso_ms("2023-08-01T00:00:00Z"))))
    for k in range(20):
        db.add(crash * (1 + 0.01 * k), -0.05, "BTC/USDT")
        db.add(calm * (1 + 0.01 * k), 0.02, "BTC/USDT")

    near_crash = db.query(crash, k=10)

    assert near_crash.mean_return == pytest.approx(-0.05)
    assert near_crash.win_rate == 0.0


def _fill(side: str, qty: float, px: float, ts: int, sid: str | None = "s1", fee: float = 0.1) -> Fill:
    return Fill(client_order_id=f"c{ts}", symbol="BTC/USDT", side=side, qty_base=qty, price_quote=px,  # type: ignore
                fee_quote=fee, ts_ms=ts, strategy_id=sid)


def test_fills_fold_into_round_trips_and_manual_trades_are_ignored() -> None:
    asm = TradeAssembler("replay")

    assert asm.on_fill(_fill("buy", 1.0, 100.0, 1)) is None
    assert asm.on_fill(_fill("buy", 1.0, 110.0, 2)) is None
    assert asm.on_fill(_fill("sell", 0.5, 120.0, 3)) is None
    done = asm.on_fill(_fill("sell", 1.5, 120.0, 4))
    manual = asm.on_fill(_fill("buy", 1.0, 100.0, 5, sid=None))

    assert done is not None
    assert manual is None
    assert done.side == "long"
    assert done.entry_price == 105.0
    assert done.exit_price == 120.0
    assert done.pnl_quote == pytest.approx(2 * 15 - 0.4)
    assert done.entry_ts == 1
    assert done.exit_ts == 4
    assert done.mode == "dry_run"


def test_learning_keeps_automatic_trades_across_a_restart(tmp_path, btc_1h) -> None:
    engine = LearningEngine(LearningConfig(), tmp_path, tmp_path / "q")
    entry = int(btc_1h.ts[5000])
    trade = ClosedTrade(mode="dry_run", symbol="BTC/USDT", side="long", entry_ts=entry, exit_ts=entry + 3_600_000,
                        entry_price=1.0, exit_price=1.1, qty_base=1.0, pnl_quote=0.1, ret=0.1)

    assert engine.learn_from_trade("s1", trade, btc_1h)
    assert not engine.learn_from_trade("manual-1", trade, btc_1h)

    again = LearningEngine(LearningConfig(), tmp_path, tmp_path / "q")
    assert len(again.patterns) == 1
    assert len(again.replay) == 1
    assert again.replay.items[0].features == pytest.approx(features_at(btc_1h, 5000).tolist())


def test_an_open_round_trip_survives_a_restart(tmp_path) -> None:
    path = tmp_path / "open_trades.json"
    TradeAssembler("replay", path).on_fill(_fill("sell", 2.0, 50.0, 1))

    done = TradeAssembler("replay", path).on_fill(_fill("buy", 2.0, 40.0, 2))

    assert done is not None
    assert done.side == "short"
    assert done.pnl_quote == pytest.approx(20 - 0.2)
    assert TradeAssembler("replay", path)._open == {}
