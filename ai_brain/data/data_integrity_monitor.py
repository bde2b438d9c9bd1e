"""The data gate: validates every candle, tick and funding event and keeps a verdict per symbol.

Runs in every mode (replay included). It is the first step of the tick
(:mod:`src.execution.tick`): :meth:`DataIntegrityMonitor.admit` judges each closed candle before the
market cache stores it, and the risk guards call :meth:`DataIntegrityMonitor.allows_entry` before
any new position. A symbol with no data
yet is BLOCKED: there is no fallback to made-up data. Every verdict change is published as a
``DataStatus`` event and an ``Alert``.

Findings are kept per *source* of one symbol (``candles:1h``, ``feed:1h``, ``stale:1h``, ``ticker``,
``spread``, ``basis``, ``funding``) and the verdict is the worst of them. A bad candle (NaN, broken
OHLC, repeated or late timestamp) is refused at the door, so it never poisons the rolling window;
its finding stays for ``_DOOR_BARS`` good candles afterwards.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ai_brain.data.data_integrity_validator import (
    Finding,
    Verdict,
    check_basis,
    check_funding,
    check_spread,
    check_stale,
    check_ticker,
    validate_arrays,
    worst,
)
from src.config.market import DataQualityConfig
from src.core.events import Alert, AlertLevel, CandleClosed, DataStatus, Event, FundingRate, Tick
from src.core.timeframes import timeframe_ms
from src.runtime.context import AppContext

_DOOR_BARS = 3  # good candles needed before a refused candle stops counting against a symbol
_TICKER_CHECK_MAX_TF_MS = 5 * 60_000  # ticker vs close is only meaningful on short candles


def base_symbol(symbol: str) -> str:
    """``BTC/USDT:USDT`` (perp) and ``BTC/USDT`` share one gate entry."""
    return symbol.split(":", 1)[0]


@dataclass
class _Series:
    """The rolling window of one (symbol, timeframe)."""

    tf_ms: int
    rows: deque[tuple[float, ...]]
    door_left: int = 0

    @property
    def last_ts(self) -> int | None:
        return int(self.rows[-1][0]) if self.rows else None


@dataclass
class _SymbolState:
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    verdict: Verdict | None = None
    reasons: tuple[str, ...] = ()
    last_tick: Tick | None = None
    last_perp_tick: Tick | None = None


class DataIntegrityMonitor:
    """The tick's gate + a periodic staleness check; exposes ``status``, ``reasons``, ``allows_entry``."""

    name = "data_gate"

    def __init__(self, ctx: AppContext, cfg: DataQualityConfig | None = None) -> None:
        self.ctx = ctx
        self.cfg = cfg or ctx.config.data_quality
        self._series: dict[tuple[str, str], _Series] = {}
        self._symbols: dict[str, _SymbolState] = {}
        self.transitions = 0

    # ----------------------------------------------------------------- the gate API
    def status(self, symbol: str) -> Verdict:
        """OK, DEGRADED or BLOCKED; a symbol never seen is BLOCKED (no data, no trading)."""
        st = self._symbols.get(base_symbol(symbol))
        return st.verdict if st is not None and st.verdict is not None else "BLOCKED"

    def reasons(self, symbol: str) -> tuple[str, ...]:
        st = self._symbols.get(base_symbol(symbol))
        if st is None or st.verdict is None:
            return ("no data yet",)
        return st.reasons

    def allows_entry(self, symbol: str) -> bool:
        """New positions only on symbols that are not BLOCKED (exits are the risk config's call)."""
        return self.status(symbol) != "BLOCKED"

    # ----------------------------------------------------------------- events
    def admit(self, candle: CandleClosed) -> bool:
        """Judge a closed candle before anyone stores it; False: refused at the door."""
        return self.on_candle(candle)

    def observe(self, event: Event) -> None:
        """Ticks and funding update the verdicts (candles go through :meth:`admit`)."""
        if isinstance(event, CandleClosed):
            self.on_candle(event)
        elif isinstance(event, Tick):
            self.on_tick(event)
        elif isinstance(event, FundingRate):
            self.on_funding(event)

    def on_candle(self, ev: CandleClosed) -> bool:
        """Fold one candle into its series; returns False when the candle is refused at the door."""
        sym = base_symbol(ev.symbol)
        series = self._series_for(sym, ev.timeframe)
        refused = self._door_check(ev, series)
        state = self._state(sym)
        if refused is not None:
            series.door_left = _DOOR_BARS
            state.findings[f"feed:{ev.timeframe}"] = [refused]
        else:
            series.rows.append((ev.ts_ms, ev.open, ev.high, ev.low, ev.close, ev.volume))
            if series.door_left:
                series.door_left -= 1
                if series.door_left == 0:
                    state.findings.pop(f"feed:{ev.timeframe}", None)
            state.findings[f"candles:{ev.timeframe}"] = self._window_findings(sym, series)
            state.findings.pop(f"stale:{ev.timeframe}", None)
        self._update(sym, ev.ts_ms + series.tf_ms)
        return refused is None

    def on_tick(self, ev: Tick) -> None:
        sym = base_symbol(ev.symbol)
        state = self._state(sym)
        perp = ":" in ev.symbol
        if perp:
            state.last_perp_tick = ev
        else:
            state.last_tick = ev
            state.findings["spread"] = _some(check_spread(ev.bid, ev.ask, ev.ts_ms, self.cfg))
            state.findings["ticker"] = _some(self._ticker_vs_close(sym, ev))
        spot, fut = state.last_tick, state.last_perp_tick
        if spot is not None and fut is not None and abs(spot.ts_ms - fut.ts_ms) <= 60_000:
            state.findings["basis"] = _some(check_basis(spot.last, fut.last, ev.ts_ms, self.cfg))
        self._update(sym, ev.ts_ms)

    def on_funding(self, ev: FundingRate) -> None:
        sym = base_symbol(ev.symbol)
        found = check_funding(np.array([ev.ts_ms]), np.array([ev.rate]), self.cfg)
        self._state(sym).findings["funding"] = found
        self._update(sym, ev.ts_ms)

    # ----------------------------------------------------------------- checks
    def check_staleness(self, now_ms: int | None = None) -> None:
        """Block every series whose newest candle is older than ``stale_after_bars`` timeframes."""
        now = self.ctx.clock.now_ms() if now_ms is None else now_ms
        for (sym, tf), series in self._series.items():
            if series.last_ts is None:
                continue
            stale = check_stale(series.last_ts, series.tf_ms, now, self.cfg)
            state = self._state(sym)
            if stale is not None:
                state.findings[f"stale:{tf}"] = [stale]
            else:
                state.findings.pop(f"stale:{tf}", None)
            self._update(sym, now)

    def _door_check(self, ev: CandleClosed, series: _Series) -> Finding | None:
        values = np.array([ev.open, ev.high, ev.low, ev.close, ev.volume], dtype=np.float64)
        ts = np.array([ev.ts_ms], dtype=np.int64)
        if not np.isfinite(values).all():
            return Finding("nan", "block", 1, ts, "candle with NaN/inf")
        if min(ev.open, ev.high, ev.low, ev.close) <= 0 or ev.volume < 0:
            return Finding("non_positive_price", "block", 1, ts, "candle with price <= 0 or volume < 0")
        if ev.high < max(ev.open, ev.close) or ev.low > min(ev.open, ev.close):
            return Finding("ohlc_inconsistent", "block", 1, ts, "candle whose high/low contradict o/c")
        last = series.last_ts
        if last is not None and ev.ts_ms <= last:
            kind = "duplicate" if ev.ts_ms == last else "out_of_order"
            return Finding(kind, "block", 1, ts, f"feed sent candle {ev.ts_ms} after {last}")
        return None

    def _window_findings(self, sym: str, series: _Series) -> list[Finding]:
        arr = np.array(series.rows, dtype=np.float64)
        cols = {name: arr[:, i + 1] for i, name in enumerate(("open", "high", "low", "close", "volume"))}
        report = validate_arrays(arr[:, 0].astype(np.int64), cols, self.cfg, symbol=sym,
                                 timeframe_ms=series.tf_ms)
        # Zero-volume and gap fractions of a short live window are noise next to a file's; degrade at most.
        out = []
        for f in report.findings.values():
            if f.kind in ("zero_volume", "gap") and f.severity == "block":
                f = Finding(f.kind, "degrade", f.count, f.timestamps, f.detail)
            out.append(f)
        return out

    def _ticker_vs_close(self, sym: str, tick: Tick) -> Finding | None:
        best: _Series | None = None
        for (s, _tf), series in self._series.items():
            if s == sym and series.rows and (best is None or series.tf_ms < best.tf_ms):
                best = series
        if best is None or best.tf_ms > _TICKER_CHECK_MAX_TF_MS or best.last_ts is None:
            return None
        if tick.ts_ms - (best.last_ts + best.tf_ms) > best.tf_ms:  # the candle is too old to compare
            return None
        return check_ticker(best.rows[-1][4], tick.last, tick.ts_ms, self.cfg)

    # ----------------------------------------------------------------- verdicts
    def _update(self, sym: str, ts_ms: int) -> None:
        state = self._state(sym)
        findings = [f for group in state.findings.values() for f in group if f.severity != "info"]
        verdict = worst(findings)
        reasons = tuple(sorted({f.reason() for f in findings if f.severity == "block"})) + tuple(
            sorted({f.reason() for f in findings if f.severity == "degrade"}))
        previous = state.verdict
        state.reasons = reasons
        if verdict == previous:
            return
        state.verdict = verdict
        self.transitions += 1
        self.ctx.bus.publish(DataStatus(sym, verdict, reasons, ts_ms))
        if previous is None and verdict == "OK":
            return  # first good data after start-up is not news
        levels: dict[str, AlertLevel] = {"BLOCKED": "action", "DEGRADED": "warning", "OK": "info"}
        level = levels[verdict]
        text = "; ".join(reasons) if reasons else f"recovered from {previous}"
        self.ctx.bus.publish(Alert(level, f"data {sym}: {previous or 'no data'} → {verdict}", text,
                                   key=f"data:{sym}", ts_ms=ts_ms))

    def _state(self, sym: str) -> _SymbolState:
        return self._symbols.setdefault(sym, _SymbolState())

    def _series_for(self, sym: str, timeframe: str) -> _Series:
        key = (sym, timeframe)
        if key not in self._series:
            self._series[key] = _Series(timeframe_ms(timeframe), deque(maxlen=self.cfg.recent_bars))
        return self._series[key]

    def snapshot(self) -> dict[str, Any]:
        return {s: {"status": self.status(s), "reasons": list(self.reasons(s))} for s in self._symbols}

    # ----------------------------------------------------------------- component
    async def run(self) -> None:
        """Re-check staleness every ``check_interval_s``: a dead feed sends nothing to judge."""
        while True:
            await asyncio.sleep(self.cfg.check_interval_s)
            self.check_staleness()


def _some(finding: Finding | None) -> list[Finding]:
    return [finding] if finding is not None else []
