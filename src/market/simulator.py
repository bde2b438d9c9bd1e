"""A seeded synthetic market, so every component has something truthful-looking to chew on offline.

What makes it look like crypto rather than a random walk:
- **regimes** (trend up, trend down, range, high volatility, crash) switch by a Markov chain;
- **fat tails**: Student-t innovations (4 degrees of freedom);
- **volatility clustering**: GARCH(1,1) variance per symbol;
- a **common market factor**, so symbols move together as they do on real exchanges;
- **volume** that rises with absolute returns and volatility;
- an **order book** whose spread and depth breathe with volatility, a **trade tape** with buy/sell
  aggression that follows the bar's direction and occasional large prints, and **perp funding**
  that leans with the trend (longs pay in bull markets).

Same seed → same market, bar for bar: each symbol draws from its own generator seeded from
``(seed, symbol index)``, and nothing depends on wall time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGIMES = ("trend_up", "trend_down", "range", "high_vol", "crash")
# Per-bar drift (fraction) and volatility multiplier for each regime, at a 1h scale.
_DRIFT = np.array([0.0004, -0.0004, 0.0, 0.0, -0.004])
_VOL_MULT = np.array([1.0, 1.1, 0.7, 2.2, 3.5])
# Row = current regime, column = next regime; crashes are rare and short.
_TRANSITIONS = np.array([
    [0.985, 0.002, 0.008, 0.004, 0.001],
    [0.002, 0.983, 0.008, 0.005, 0.002],
    [0.006, 0.006, 0.982, 0.005, 0.001],
    [0.010, 0.010, 0.020, 0.958, 0.002],
    [0.020, 0.080, 0.050, 0.150, 0.700],
])


@dataclass(frozen=True)
class SimBar:
    """One simulated bar for one symbol, with the micro-structure seen at its close."""

    symbol: str
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    regime: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    trades: tuple[tuple[int, float, float, str], ...]  # (ts_ms, price, qty_base, aggressor side)
    funding_rate: float | None


class _SymbolState:
    """Per-symbol price, GARCH variance and private random generator."""

    def __init__(self, symbol: str, price: float, rng: np.random.Generator, base_vol: float) -> None:
        self.symbol = symbol
        self.price = price
        self.rng = rng
        self.base_var = base_vol**2
        self.var = self.base_var
        self.last_ret = 0.0
        self.trend_memory = 0.0


class MarketSimulator:
    """Generates bars for several symbols in lockstep; call :meth:`step` for the next bar of each."""

    def __init__(self, symbols: tuple[str, ...], start_prices: tuple[float, ...], seed: int,
                 start_ms: int, timeframe_ms: int = 3_600_000, book_levels: int = 20,
                 funding_period_ms: int = 8 * 3_600_000) -> None:
        if len(symbols) != len(start_prices):
            raise ValueError("simulator: symbols and start_prices must have the same length")
        self.timeframe_ms = timeframe_ms
        self.book_levels = book_levels
        self.funding_period_ms = funding_period_ms
        self.ts_ms = start_ms
        self._market_rng = np.random.default_rng([seed, 10_000])
        scale = np.sqrt(timeframe_ms / 3_600_000)
        self._scale = scale
        self._states = [
            _SymbolState(sym, float(px), np.random.default_rng([seed, i]), 0.006 * (1 + 0.25 * i) * scale)
            for i, (sym, px) in enumerate(zip(symbols, start_prices, strict=True))
        ]
        self.regime = 2  # start in a range

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(s.symbol for s in self._states)

    @property
    def regime_name(self) -> str:
        return REGIMES[self.regime]

    def step(self) -> list[SimBar]:
        """Advance one bar for every symbol and return them (same order as ``symbols``)."""
        self.regime = int(self._market_rng.choice(5, p=_TRANSITIONS[self.regime]))
        market_shock = float(self._market_rng.standard_t(4)) / np.sqrt(2.0)
        bars = [self._bar(state, market_shock) for state in self._states]
        self.ts_ms += self.timeframe_ms
        return bars

    def history(self, n_bars: int) -> dict[str, list[SimBar]]:
        """Generate ``n_bars`` bars per symbol at once (the warm-up history before streaming)."""
        out: dict[str, list[SimBar]] = {s: [] for s in self.symbols}
        for _ in range(n_bars):
            for bar in self.step():
                out[bar.symbol].append(bar)
        return out

    # -- one bar -------------------------------------------------------------------------------

    def _bar(self, st: _SymbolState, market_shock: float) -> SimBar:
        rng, r = st.rng, self.regime
        # GARCH(1,1): today's variance remembers yesterday's shock and yesterday's variance.
        # The regime multiplier scales the bar, not the GARCH memory, so crashes cannot explode it.
        st.var = 0.05 * st.base_var + 0.10 * st.last_ret**2 + 0.85 * st.var
        idio = float(rng.standard_t(4)) / np.sqrt(2.0)
        shock = 0.6 * market_shock + 0.8 * idio
        st.last_ret = float(np.sqrt(st.var) * shock)
        sigma = np.sqrt(st.var) * _VOL_MULT[r]
        ret = float(np.clip(_DRIFT[r] * self._scale**2 + sigma * shock, -0.35, 0.35))
        st.trend_memory = 0.97 * st.trend_memory + ret

        open_px = st.price
        close_px = open_px * np.exp(ret)
        # Intrabar excursions: a few sub-steps give honest highs and lows around the path.
        path = open_px * np.exp(np.cumsum(rng.normal(0.0, sigma / 3.0, 6)) + np.linspace(0, ret, 6))
        path[-1] = close_px
        high = float(max(open_px, close_px, path.max()))
        low = float(min(open_px, close_px, path.min()))
        st.price = close_px

        notional = 2_000_000.0 * (1.0 + 40.0 * abs(ret) + 60.0 * sigma) * rng.lognormal(0.0, 0.35)
        volume = float(notional / close_px)
        bids, asks = self._book(rng, close_px, sigma)
        trades = self._tape(rng, close_px, ret, bids[0][0], asks[0][0])
        funding = self._funding(rng, st) if (self.ts_ms + self.timeframe_ms) % self.funding_period_ms == 0 else None
        return SimBar(st.symbol, self.ts_ms, float(open_px), high, low, float(close_px), volume,
                      REGIMES[r], bids, asks, trades, funding)

    def _book(self, rng: np.random.Generator, mid: float, sigma: float) -> tuple[tuple, tuple]:
        """Levels spaced by a volatility-scaled tick, sizes growing with distance from the touch."""
        half_spread = mid * max(0.00005, 0.02 * sigma)
        step = mid * max(0.00002, 0.01 * sigma)
        depth_base = 150_000.0 / mid / (1.0 + 50 * sigma)
        n = self.book_levels
        sizes_b = depth_base * (1 + np.arange(n) * 0.35) * rng.lognormal(0, 0.4, n)
        sizes_a = depth_base * (1 + np.arange(n) * 0.35) * rng.lognormal(0, 0.4, n)
        bids = tuple((float(mid - half_spread - i * step), float(sizes_b[i])) for i in range(n))
        asks = tuple((float(mid + half_spread + i * step), float(sizes_a[i])) for i in range(n))
        return bids, asks

    def _tape(self, rng: np.random.Generator, close_px: float, ret: float, bid: float,
              ask: float) -> tuple[tuple[int, float, float, str], ...]:
        """A handful of prints near the close; buyers dominate up-bars, one in ~25 is a block trade."""
        n = int(rng.poisson(8)) + 1
        p_buy = float(np.clip(0.5 + 20.0 * ret, 0.1, 0.9))
        trades = []
        for k in range(n):
            side = "buy" if rng.random() < p_buy else "sell"
            size_quote = rng.lognormal(np.log(800.0), 1.1)
            if rng.random() < 0.04:
                size_quote *= rng.pareto(1.5) * 50 + 20
            price = ask if side == "buy" else bid
            ts = self.ts_ms + self.timeframe_ms - (n - k) * 97
            trades.append((int(ts), float(price), float(size_quote / close_px), side))
        return tuple(trades)

    def _funding(self, rng: np.random.Generator, st: _SymbolState) -> float:
        """Funding leans with the recent trend (longs pay when the market runs up), clipped to sane bounds."""
        rate = 0.0001 + 0.02 * st.trend_memory + rng.normal(0, 0.00005)
        return float(np.clip(rate, -0.003, 0.003))
