"""Indicators against hand-computed values and against pandas on random data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from src.strategy import indicators as ind

NAN = float("nan")


def test_ema_seeded_with_first_value():
    np.testing.assert_allclose(ind.ema(np.array([1.0, 2.0, 3.0]), 3), [1.0, 1.5, 2.25])


def test_sma_warmup_is_nan_then_window_mean():
    np.testing.assert_allclose(ind.sma(np.arange(1.0, 6.0), 3), [NAN, NAN, 2.0, 3.0, 4.0])


def test_rsi_wilder_by_hand():
    # diffs +1, -1, +1, -1 with n=2: seed 0.5/0.5 -> 50; then 0.75/0.25 -> 75; then 0.375/0.625 -> 37.5
    np.testing.assert_allclose(ind.rsi(np.array([1.0, 2.0, 1.0, 2.0, 1.0]), 2), [NAN, NAN, 50.0, 75.0, 37.5])


def test_rsi_only_gains_is_100_and_flat_is_50():
    assert ind.rsi(np.arange(1.0, 30.0), 14)[-1] == 100.0
    assert ind.rsi(np.full(30, 7.0), 14)[-1] == 50.0


def test_atr_wilder_by_hand():
    high = np.array([10.0, 11.0, 12.0, 11.0])
    low = np.array([8.0, 9.0, 10.5, 7.0])
    close = np.array([9.0, 10.0, 11.0, 8.0])
    # true ranges from bar 1: 2, 2, 4; seed mean(2, 2) = 2, then 2 + (4 - 2) / 2 = 3
    np.testing.assert_allclose(ind.atr(high, low, close, 2), [NAN, NAN, 2.0, 3.0])


def test_adx_of_a_clean_uptrend_is_100():
    i = np.arange(40.0)
    adx, pdi, mdi = ind.adx_dmi(i + 1.0, i, i + 1.0, 5)
    assert pdi[-1] == pytest.approx(100.0)
    assert mdi[-1] == pytest.approx(0.0)
    assert adx[-1] == pytest.approx(100.0)
    assert np.isnan(adx[:9]).all()
    assert not np.isnan(adx[9])


def test_macd_of_flat_prices_is_zero_and_follows_emas():
    line, sig, hist = ind.macd(np.full(50, 3.0), 12, 26, 9)
    assert np.all(line == 0.0)
    assert np.all(sig == 0.0)
    assert np.all(hist == 0.0)
    x = np.linspace(1.0, 2.0, 60)
    line, _, _ = ind.macd(x, 3, 6, 4)
    np.testing.assert_allclose(line, ind.ema(x, 3) - ind.ema(x, 6))


def test_bollinger_by_hand():
    up, mid, lo = ind.bollinger(np.array([1.0, 2.0, 3.0]), 3, 2.0)
    sd = math.sqrt(2.0 / 3.0)
    assert (up[-1], mid[-1], lo[-1]) == pytest.approx((2.0 + 2 * sd, 2.0, 2.0 - 2 * sd))


def test_donchian_by_hand():
    high = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    up, mid, lo = ind.donchian(high, high - 1.0, 3)
    np.testing.assert_allclose(up, [NAN, NAN, 3.0, 5.0, 5.0])
    np.testing.assert_allclose(lo, [NAN, NAN, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(mid, (up + lo) / 2)


def test_vwap_by_hand_and_nan_without_volume():
    price = np.array([10.0, 20.0, 30.0])
    out = ind.vwap(price, price, price, np.array([1.0, 3.0, 0.0]), 2)
    np.testing.assert_allclose(out, [NAN, 17.5, 20.0])
    assert np.isnan(ind.vwap(price, price, price, np.zeros(3), 2)[-1])


def test_volatility_of_constant_growth_is_zero():
    out = ind.volatility(2.0 ** np.arange(10.0), 3)
    assert np.isnan(out[:3]).all()
    np.testing.assert_allclose(out[3:], 0.0, atol=1e-12)


finite = st.floats(-1e4, 1e4, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 300), elements=finite), n=st.integers(1, 40))
def test_against_pandas(x, n):
    s = pd.Series(x)
    np.testing.assert_allclose(ind.ema(x, n), s.ewm(span=n, adjust=False).mean(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(ind.sma(x, n), s.rolling(n).mean(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(ind.rolling_std(x, n), s.rolling(n).std(ddof=0), rtol=1e-7, atol=1e-4)
    np.testing.assert_array_equal(ind.rolling_max(x, n), s.rolling(n).max())
    np.testing.assert_array_equal(ind.rolling_min(x, n), s.rolling(n).min())


def test_shift_lags_without_wrapping():
    np.testing.assert_array_equal(ind.shift(np.array([1.0, 2.0, 3.0]), 1), [NAN, 1.0, 2.0])
    assert np.isnan(ind.shift(np.array([1.0]), 3)).all()
