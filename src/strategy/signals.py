"""The one signal implementation shared by backtest, replay, paper and live trading.

`compute_signals` turns a `StrategySpec`'s rule form into boolean arrays, one value per closed
bar, using only that bar and earlier ones. The backtester fills a signal on bar i at the open
of bar i+1; the live runner calls `latest_signal` on its rolling window of closed candles and
acts on the same decision at the next open. Because both call this module, a backtest and a
dry run over the same candles make the same trades.

`check_lookahead` proves causality empirically for any spec: signals computed on the whole
series must equal those recomputed on truncated copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.strategy import indicators as ind
from src.strategy.data import Candles, Funding
from src.strategy.spec import Condition, IndicatorRef, StrategySpec


@dataclass(frozen=True)
class Signals:
    """Per-bar decisions at the bar's close. Exits apply to an open position of that side."""

    entry_long: np.ndarray
    entry_short: np.ndarray
    exit_long: np.ndarray
    exit_short: np.ndarray

    def equals(self, other: Signals, upto: int | None = None) -> bool:
        """True when all four arrays agree on the first `upto` bars (all bars if None)."""
        sl = slice(0, upto)
        return all(np.array_equal(getattr(self, f)[sl], getattr(other, f)[sl])
                   for f in ("entry_long", "entry_short", "exit_long", "exit_short"))


@dataclass(frozen=True)
class LatestSignal:
    """The decision for the last closed bar, as the live runner needs it."""

    bar_ts: int
    entry_long: bool
    entry_short: bool
    exit_long: bool
    exit_short: bool


IndicatorCache = dict[tuple, np.ndarray]


def _as_candles(candles: Candles | pd.DataFrame) -> Candles:
    return candles if isinstance(candles, Candles) else Candles.from_frame(candles)


def series_key(c: Candles) -> tuple:
    """Identity of a candle series inside an `IndicatorCache` (object, length and time span),
    so a cache reused with other candles misses instead of returning stale values."""
    n = len(c)
    return (id(c), n, int(c.ts[0]) if n else 0, int(c.ts[-1]) if n else 0)


def indicator_series(ref: IndicatorRef, c: Candles, funding: Funding | None = None,
                     cache: IndicatorCache | None = None) -> np.ndarray:
    """Values of one indicator reference on every bar (lag `shift` applied)."""
    key = (*series_key(c), ref.name, ref.period, ref.period2, ref.period3, ref.mult, ref.shift, ref.ref)
    if cache is not None and key in cache:
        return cache[key]
    out = ind.shift(_raw_indicator(ref, c, funding), ref.shift)
    if cache is not None:
        cache[key] = out
    return out


def _volume_part(name: str, c: Candles, n: int) -> np.ndarray:
    vma = ind.sma(c.volume, n)
    if name == "volume_ma":
        return vma
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(vma > 0, c.volume / np.where(vma > 0, vma, 1.0), np.nan)


def _funding_part(name: str, c: Candles, n: int, funding: Funding | None) -> np.ndarray:
    if funding is None:
        return np.full(len(c), np.nan)
    return funding.known_at_close(c.ts, c.step_ms(), n if name == "funding_ma" else 1)


_ADX = ("adx", "plus_di", "minus_di")
_MACD = ("macd", "macd_signal", "macd_hist")
_DONCHIAN = ("donchian_upper", "donchian_mid", "donchian_lower")


def _raw_indicator(ref: IndicatorRef, c: Candles, funding: Funding | None) -> np.ndarray:
    name, n = ref.name, ref.period
    if name in ("close", "open", "high", "low", "volume"):
        return getattr(c, name)
    if name in ("ema", "sma"):
        return (ind.ema if name == "ema" else ind.sma)(c.close, n)
    if name in _ADX:
        return ind.adx_dmi(c.high, c.low, c.close, n)[_ADX.index(name)]
    if name in _MACD:
        return ind.macd(c.close, n, ref.period2, ref.period3)[_MACD.index(name)]
    if name in ("atr", "atr_pct"):
        a = ind.atr(c.high, c.low, c.close, n)
        return a if name == "atr" else a / c.close
    if name in _DONCHIAN:
        return ind.donchian(c.high, c.low, n)[_DONCHIAN.index(name)]
    simple = {
        "rsi": lambda: ind.rsi(c.close, n),
        "vwap": lambda: ind.vwap(c.high, c.low, c.close, c.volume, n),
        "volatility": lambda: ind.volatility(c.close, n),
    }
    if name in simple:
        return simple[name]()
    if name.startswith("bb_"):
        return _bollinger_part(name, c.close, n, ref.mult)
    if name.startswith("volume_"):
        return _volume_part(name, c, n)
    if name.startswith("funding_"):
        return _funding_part(name, c, n, funding)
    if name == "rel_strength":
        other = c.refs.get(ref.ref or "")
        # no reference series → NaN → the condition is false: without the comparison, no entry
        return np.full(len(c), np.nan) if other is None else ind.relative_strength(c.close, other, n)
    raise ValueError(f"unknown indicator {name!r}")


def _bollinger_part(name: str, close: np.ndarray, n: int, mult: float) -> np.ndarray:
    up, mid, lo = ind.bollinger(close, n, mult)
    if name == "bb_upper":
        return up
    if name == "bb_mid":
        return mid
    if name == "bb_lower":
        return lo
    width = up - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "bb_width":
            return width / mid
        return np.where(width > 0, (close - lo) / np.where(width > 0, width, 1.0), 0.5)


def _condition(cond: Condition, c: Candles, funding: Funding | None,
               cache: IndicatorCache | None) -> np.ndarray:
    left = indicator_series(cond.left, c, funding, cache)
    right = (indicator_series(cond.right, c, funding, cache) if cond.right is not None
             else np.full(left.shape[0], cond.threshold))
    with np.errstate(invalid="ignore"):
        if cond.op == ">":
            return left > right
        if cond.op == "<":
            return left < right
        return ind.crosses(np.ascontiguousarray(left, dtype=np.float64),
                           np.ascontiguousarray(right, dtype=np.float64), cond.op == "crosses_above")


def _group(conds: list[Condition], threshold: float, c: Candles, funding: Funding | None,
           cache: IndicatorCache | None) -> np.ndarray:
    if not conds:
        return np.zeros(len(c), dtype=np.bool_)
    if len(conds) == 1:
        return _condition(conds[0], c, funding, cache)
    total = sum(cd.weight for cd in conds)
    score = np.zeros(len(c))
    for cd in conds:
        score += cd.weight * _condition(cd, c, funding, cache)
    return score >= threshold * total - 1e-9


def compute_signals(spec: StrategySpec, candles: Candles | pd.DataFrame, funding: Funding | None = None,
                    cache: IndicatorCache | None = None) -> Signals:
    """Entry/exit booleans for every bar of `candles`, each using only bars up to itself.

    `cache` (a plain dict) lets a sweep over many specs on the same candles reuse indicators.
    """
    c = _as_candles(candles)
    r = spec.rules
    gate = np.ones(len(c), dtype=np.bool_)
    for f in r.filters:
        gate &= _condition(f, c, funding, cache)
    return Signals(
        entry_long=_group(r.entry_long, r.score_threshold, c, funding, cache) & gate,
        entry_short=_group(r.entry_short, r.score_threshold, c, funding, cache) & gate,
        exit_long=_group(r.exit_long, r.score_threshold, c, funding, cache),
        exit_short=_group(r.exit_short, r.score_threshold, c, funding, cache),
    )


def latest_signal(spec: StrategySpec, candles: Candles | pd.DataFrame,
                  funding: Funding | None = None) -> LatestSignal:
    """The decision for the last *closed* bar of `candles` (pass closed candles only).

    Give at least `spec.warmup_bars()` candles, more for EMA-based rules to converge.
    """
    c = _as_candles(candles)
    if len(c) == 0:
        raise ValueError("latest_signal needs at least one closed candle")
    s = compute_signals(spec, c, funding)
    return LatestSignal(bar_ts=int(c.ts[-1]), entry_long=bool(s.entry_long[-1]),
                        entry_short=bool(s.entry_short[-1]), exit_long=bool(s.exit_long[-1]),
                        exit_short=bool(s.exit_short[-1]))


@dataclass(frozen=True)
class LookaheadReport:
    """Outcome of the truncation test; `mismatched_bars` are truncation points that disagreed."""

    ok: bool
    checked_bars: list[int]
    mismatched_bars: list[int]


def check_lookahead(spec: StrategySpec, candles: Candles | pd.DataFrame, n_checks: int = 12,
                    funding: Funding | None = None, seed: int = 0,
                    full: Signals | None = None,
                    compute: Callable[..., Signals] | None = None) -> LookaheadReport:
    """Recompute signals on `n_checks` truncated copies and compare with the full-series run.

    Truncation points are random (seeded) after the warm-up, plus the bar before the last, so a rule that
    peeks even one bar ahead disagrees somewhere. Each comparison covers the whole prefix.
    `compute` replaces `compute_signals` (a seam to check other signal code the same way).
    """
    compute = compute or compute_signals
    c = _as_candles(candles)
    n = len(c)
    full = full if full is not None else compute(spec, c, funding)
    lo = min(spec.warmup_bars(), max(n - 2, 1))
    rng = np.random.default_rng(seed)
    picks = set(rng.integers(lo, n, size=max(n_checks - 1, 0)).tolist()) if n > lo else set()
    points = sorted(picks | {n - 2} if n >= 2 else picks)
    bad = [t for t in points if not compute(spec, c.slice(0, t + 1), funding).equals(full, t + 1)]
    return LookaheadReport(ok=not bad, checked_bars=points, mismatched_bars=bad)
