"""The verdict's gates on real BTC candles: selection never reads the test segment; evidence, in-sample
return, PBO and the trials' Sharpe variance each decide."""

from __future__ import annotations

import numpy as np

from ai_brain.evaluation import statistics as st
from ai_brain.evaluation.strategy_evaluator import NOT_ENOUGH_EVIDENCE, evaluate
from src.config.evaluator import EvaluatorConfig
from src.strategy.data import Candles
from src.strategy.spec import family_spec

SPEC = family_spec("momentum", fast=12, slow=48, short=True, symbols=["BTC/USDT"], timeframe="1h")


def _failed(ev) -> set[str]:
    return {c.name for c in ev.checks if not c.passed}


def _scrambled_after(c: Candles, cut: int, seed: int) -> Candles:
    """The same bars before ``cut``; after it, the returns shuffled (another future)."""
    rng = np.random.default_rng(seed)
    r = np.diff(np.log(c.close[cut - 1:]))
    rng.shuffle(r)
    ratio = np.concatenate((np.ones(cut), np.exp(np.cumsum(r)) * c.close[cut - 1] / c.close[cut:]))
    return Candles(ts=c.ts, open=c.open * ratio, high=c.high * ratio, low=c.low * ratio, close=c.close * ratio,
                   volume=c.volume)


def test_the_score_never_reads_the_test_segment(btc_1h):
    candles = btc_1h.slice(len(btc_1h) - 20_000, len(btc_1h))
    cut = st.oos_split(len(candles), EvaluatorConfig().oos_fraction)[0][1]
    other = _scrambled_after(candles, cut, seed=3)

    a, b = evaluate(SPEC, candles), evaluate(SPEC, other)

    assert a.out_of_sample != b.out_of_sample, "the test segments differ"
    assert a.score == b.score
    assert a.in_sample == b.in_sample
    assert a.walk_forward == b.walk_forward


def test_short_history_is_not_enough_evidence(btc_1h):
    ev = evaluate(SPEC, btc_1h.slice(len(btc_1h) - 3000, len(btc_1h)))
    assert not ev.passed
    assert "evidence" in _failed(ev)
    assert any(r.startswith(NOT_ENOUGH_EVIDENCE) for r in ev.reasons)


def test_a_negative_in_sample_return_never_passes(btc_1h):
    for fast, slow in ((5, 20), (8, 34), (12, 48), (20, 100), (30, 150)):
        spec = family_spec("momentum", fast=fast, slow=slow, short=True, symbols=["BTC/USDT"], timeframe="1h")
        ev = evaluate(spec, btc_1h, pbo=0.0)
        if ev.in_sample.total_return <= 0:
            assert not ev.passed
            assert "in_sample_return" in _failed(ev)
            return
    raise AssertionError("no spec with a negative selection-segment return to test with")


def test_pbo_is_a_gate(btc_1h):
    candles = btc_1h.slice(len(btc_1h) - 20_000, len(btc_1h))
    cfg = EvaluatorConfig()
    assert "pbo" in _failed(evaluate(SPEC, candles, cfg=cfg)), "not measured: fails safe"
    assert "pbo" in _failed(evaluate(SPEC, candles, cfg=cfg, pbo=cfg.max_pbo + 0.1))
    assert "pbo" not in _failed(evaluate(SPEC, candles, cfg=cfg, pbo=cfg.max_pbo))


def test_the_deflated_sharpe_uses_the_trials_variance(btc_1h):
    candles = btc_1h.slice(len(btc_1h) - 20_000, len(btc_1h))
    null = evaluate(SPEC, candles, trials=10)
    wide = evaluate(SPEC, candles, trials=10, sr_variance=3 * null.significance.sr_variance)

    assert wide.significance.sr_variance == 3 * null.significance.sr_variance
    assert 0.0 < wide.significance.dsr < null.significance.dsr
    narrow = evaluate(SPEC, candles, trials=10, sr_variance=null.significance.sr_variance / 10)
    assert narrow.significance.dsr == null.significance.dsr, "never less deflation than the null"
