"""The one signal implementation: causality, the look-ahead detector, and the live entry point."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from src.strategy.data import Funding
from src.strategy.signals import Signals, check_lookahead, compute_signals, latest_signal
from src.strategy.spec import FAMILY_NAMES, StrategySpec, family_spec

from .builders import random_candles


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_builtin_families_are_causal(family):
    c = random_candles(400, 11)
    funding = Funding(ts=c.ts[::8].copy(), rate=np.random.default_rng(1).normal(1e-4, 2e-4, c.ts[::8].size))
    spec = family_spec(family, short=True)
    report = check_lookahead(spec, c, n_checks=15, funding=funding)
    assert report.ok
    assert len(report.checked_bars) >= 10


def test_a_peeking_signal_is_caught():
    c = random_candles(300, 5)
    spec = family_spec("momentum", fast=3, slow=8)

    def peeking(spec, candles, funding=None):
        sig = compute_signals(spec, candles, funding)
        rises = np.zeros(len(candles), dtype=bool)
        rises[:-1] = candles.close[1:] > candles.close[:-1]  # tomorrow's close: look-ahead
        return dataclasses.replace(sig, entry_long=rises)

    report = check_lookahead(spec, c, n_checks=8, compute=peeking)
    assert not report.ok
    assert report.mismatched_bars


def test_latest_signal_equals_the_backtest_signal_on_each_bar():
    c = random_candles(260, 21)
    spec = family_spec("momentum", fast=3, slow=9, short=True)
    full = compute_signals(spec, c)
    assert full.entry_long.any()
    assert full.entry_short.any()
    for t in range(200, 260):
        live = latest_signal(spec, c.slice(0, t + 1))
        assert live.bar_ts == c.ts[t]
        assert (live.entry_long, live.entry_short, live.exit_long, live.exit_short) == (
            full.entry_long[t], full.entry_short[t], full.exit_long[t], full.exit_short[t])


def test_filters_gate_entries_and_nan_never_fires():
    c = random_candles(200, 2)
    plain = compute_signals(family_spec("momentum", fast=2, slow=6), c)
    gated = compute_signals(family_spec("momentum", fast=2, slow=6, volume_ratio_min=1.2), c)
    assert gated.entry_long.sum() < plain.entry_long.sum()
    assert not (gated.entry_long & ~plain.entry_long).any()
    no_funding = compute_signals(family_spec("funding_carry"), c)  # funding indicator undefined → no entry
    assert not no_funding.entry_short.any()


def test_score_threshold_turns_and_into_or():
    c = random_candles(300, 8)
    body = family_spec("momentum", fast=3, slow=9, adx_min=25.0).model_dump()
    strict = compute_signals(family_spec("momentum", fast=3, slow=9, adx_min=25.0), c)
    body["rules"]["score_threshold"] = 0.3
    loose = compute_signals(StrategySpec.model_validate(body), c)
    assert loose.entry_long.sum() > strict.entry_long.sum()
    assert isinstance(loose, Signals)
