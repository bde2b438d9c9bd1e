"""Causal technical indicators over float64 numpy arrays.

Every value at bar i depends only on bars <= i, so the same function serves the backtest
(whole series) and the live runner (rolling window of closed candles). Conventions, chosen to
match what traders compare against (TradingView, TA-Lib):

* EMA is seeded with the first value (pandas `ewm(adjust=False)`), alpha = 2 / (n + 1).
* RSI, ATR and ADX use Wilder smoothing seeded by the simple mean of the first n values.
* Bollinger uses the population standard deviation (ddof = 0).
* Donchian includes the current bar; use a `shift` of 1 to compare with the prior channel.
* VWAP is rolling over n bars (crypto trades 24/7, so there is no session to anchor to).

Undefined warm-up values are NaN; conditions on NaN are false.
Loops are compiled with numba (`cache=True`), the rest is plain vectorized numpy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FloatArray = np.ndarray


@njit(cache=True)
def ema(x: FloatArray, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2/(n+1), seeded with the first finite value."""
    out = np.full(x.shape[0], np.nan)
    alpha = 2.0 / (n + 1.0)
    prev = np.nan
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = prev
            continue
        prev = v if np.isnan(prev) else prev + alpha * (v - prev)
        out[i] = prev
    return out


@njit(cache=True)
def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average over n bars (running sum, re-summed every n bars against drift)."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    s = 0.0
    for i in range(m):
        s += x[i]
        if i >= n:
            s -= x[i - n]
        if i % 4096 == 0 and i >= n:  # bound float drift of the running sum
            s = 0.0
            for j in range(i - n + 1, i + 1):
                s += x[j]
        if i >= n - 1:
            out[i] = s / n
    return out


@njit(cache=True)
def _wilder(x: FloatArray, n: int, start: int) -> FloatArray:
    """Wilder smoothing of x[start:], seeded by the mean of its first n values."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    if m - start < n:
        return out
    s = 0.0
    for i in range(start, start + n):
        s += x[i]
    prev = s / n
    out[start + n - 1] = prev
    for i in range(start + n, m):
        prev = prev + (x[i] - prev) / n
        out[i] = prev
    return out


@njit(cache=True)
def rsi(close: FloatArray, n: int) -> FloatArray:
    """Wilder RSI in [0, 100]; 100 when there were no losses, 50 when price did not move."""
    m = close.shape[0]
    gain = np.zeros(m)
    loss = np.zeros(m)
    for i in range(1, m):
        d = close[i] - close[i - 1]
        gain[i] = d if d > 0 else 0.0
        loss[i] = -d if d < 0 else 0.0
    ag = _wilder(gain, n, 1)
    al = _wilder(loss, n, 1)
    out = np.full(m, np.nan)
    for i in range(m):
        if np.isnan(ag[i]):
            continue
        if al[i] == 0.0:
            out[i] = 50.0 if ag[i] == 0.0 else 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + ag[i] / al[i])
    return out


@njit(cache=True)
def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """max(high-low, |high-prev close|, |low-prev close|); the first bar uses high-low."""
    m = close.shape[0]
    tr = np.empty(m)
    for i in range(m):
        hl = high[i] - low[i]
        if i == 0:
            tr[i] = hl
        else:
            tr[i] = max(hl, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    return tr


@njit(cache=True)
def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> FloatArray:
    """Wilder average true range; defined from bar n (the first n true ranges seed it)."""
    return _wilder(true_range(high, low, close), n, 1)


@njit(cache=True)
def adx_dmi(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> tuple:
    """Wilder's (ADX, +DI, -DI). DI are defined from bar n, ADX from bar 2n-1."""
    m = close.shape[0]
    pdm = np.zeros(m)
    mdm = np.zeros(m)
    for i in range(1, m):
        up = high[i] - high[i - 1]
        dn = low[i - 1] - low[i]
        pdm[i] = up if (up > dn and up > 0) else 0.0
        mdm[i] = dn if (dn > up and dn > 0) else 0.0
    tr_s = _wilder(true_range(high, low, close), n, 1)
    p_s = _wilder(pdm, n, 1)
    m_s = _wilder(mdm, n, 1)
    pdi = np.full(m, np.nan)
    mdi = np.full(m, np.nan)
    dx = np.full(m, np.nan)
    for i in range(m):
        if np.isnan(tr_s[i]):
            continue
        pdi[i] = 100.0 * p_s[i] / tr_s[i] if tr_s[i] > 0 else 0.0
        mdi[i] = 100.0 * m_s[i] / tr_s[i] if tr_s[i] > 0 else 0.0
        tot = pdi[i] + mdi[i]
        dx[i] = 100.0 * abs(pdi[i] - mdi[i]) / tot if tot > 0 else 0.0
    adx = _wilder(dx, n, n) if m > n else np.full(m, np.nan)
    return adx, pdi, mdi


def macd(close: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(MACD line, signal line, histogram) from EMAs; all defined from the first bar."""
    line = ema(close, fast) - ema(close, slow)
    sig = ema(line, signal)
    return line, sig, line - sig


@njit(cache=True)
def rolling_std(x: FloatArray, n: int) -> FloatArray:
    """Population standard deviation over n bars (two-pass per window for accuracy)."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    mean = sma(x, n)
    for i in range(n - 1, m):
        s = 0.0
        for j in range(i - n + 1, i + 1):
            d = x[j] - mean[i]
            s += d * d
        out[i] = np.sqrt(s / n)
    return out


def bollinger(close: FloatArray, n: int, mult: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) = SMA ± mult × population std."""
    mid = sma(close, n)
    sd = rolling_std(close, n)
    return mid + mult * sd, mid, mid - mult * sd


@njit(cache=True)
def rolling_max(x: FloatArray, n: int) -> FloatArray:
    """Highest value of the last n bars, O(len) with a monotonic deque."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    dq = np.empty(m, np.int64)
    head, tail = 0, 0
    for i in range(m):
        while tail > head and x[dq[tail - 1]] <= x[i]:
            tail -= 1
        dq[tail] = i
        tail += 1
        if dq[head] <= i - n:
            head += 1
        if i >= n - 1:
            out[i] = x[dq[head]]
    return out


def rolling_min(x: FloatArray, n: int) -> FloatArray:
    """Lowest value of the last n bars."""
    return -rolling_max(-x, n)


def donchian(high: FloatArray, low: FloatArray, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) channel of the last n bars, current bar included."""
    up, lo = rolling_max(high, n), rolling_min(low, n)
    return up, (up + lo) / 2.0, lo


def vwap(high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, n: int) -> FloatArray:
    """Rolling n-bar volume-weighted typical price; NaN where the window traded nothing."""
    typical = (high + low + close) / 3.0
    pv = sma(typical * volume, n)
    v = sma(volume, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, pv / np.where(v > 0, v, 1.0), np.nan)


def volatility(close: FloatArray, n: int) -> FloatArray:
    """Rolling population std of log returns over n bars (per bar, not annualized)."""
    r = np.full(close.shape[0], np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > n:
        out[1:] = rolling_std(r[1:], n)
    return out


def relative_strength(close: FloatArray, ref: FloatArray, n: int) -> FloatArray:
    """n-bar log return of `close` minus that of `ref` (positive = outperforming the reference).
    NaN for the first n bars and wherever either price is missing."""
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > n:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[n:] = np.log(close[n:] / close[:-n]) - np.log(ref[n:] / ref[:-n])
    return out


@njit(cache=True, nogil=True)
def crosses(left: FloatArray, right: FloatArray, above: bool) -> np.ndarray:
    """True on bars where `left` moves from <= right to > right (or >= to < when not above).
    NaN on either bar never crosses."""
    m = left.shape[0]
    out = np.zeros(m, dtype=np.bool_)
    for i in range(1, m):
        if above:
            out[i] = left[i] > right[i] and left[i - 1] <= right[i - 1]
        else:
            out[i] = left[i] < right[i] and left[i - 1] >= right[i - 1]
    return out


def shift(x: FloatArray, k: int) -> FloatArray:
    """Lag a series by k bars (NaN-filled), keeping it causal."""
    if k == 0:
        return x
    out = np.full(x.shape[0], np.nan)
    if k < x.shape[0]:
        out[k:] = x[:-k]
    return out
