"""Historical candles: paginated, resumable, incremental downloads into an on-disk cache.

The cache is one compressed ``.npz`` per (exchange, symbol, timeframe) under ``cache_root``:
int64 ``timestamp`` + float64 OHLCV columns, plus ``covered`` — the [start, end) ranges that were
fetched completely. Coverage is what makes downloads incremental *and* honest about gaps: a range
the exchange answered with no candles (an outage) is covered, so it is never asked for again, and
it shows up in the gap report instead.

Resumable: progress is checkpointed (atomically) every ``checkpoint_s`` seconds and whenever a
download stops for any reason, so a rerun after a dropped connection or a kill fetches only what
is still missing. Each written candle is a closed candle; the forming one is never cached.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ai_brain.data.data_integrity_validator import ValidationReport, validate_candles
from src.core.timeframes import timeframe_ms
from src.exchange.binance import ExchangeClient
from src.market.candles_io import COLUMNS, empty_frame, frame_from_rows, load_candles, write_candles
from src.state.store import atomic_write_bytes

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done_ms, total_ms) of the ranges being fetched
Interval = tuple[int, int]


# --------------------------------------------------------------------------- intervals
def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, touching ranges joined."""
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[1] > i[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def subtract_intervals(want: Interval, have: list[Interval]) -> list[Interval]:
    """The parts of ``want`` not covered by ``have``."""
    missing, cursor = [], want[0]
    for lo, hi in merge_intervals(have):
        if hi <= cursor or lo >= want[1]:
            continue
        if lo > cursor:
            missing.append((cursor, min(lo, want[1])))
        cursor = max(cursor, hi)
    if cursor < want[1]:
        missing.append((cursor, want[1]))
    return missing


# --------------------------------------------------------------------------- the cache
def cache_file(cache_root: Path, exchange_id: str, symbol: str, timeframe: str) -> Path:
    """``<root>/<exchange>/<BASE-QUOTE[-SETTLE]>_<tf>.npz`` (``BTC/USDT:USDT`` → ``BTC-USDT-USDT``)."""
    safe = symbol.replace("/", "-").replace(":", "-")
    return cache_root / exchange_id / f"{safe}_{timeframe}.npz"


@dataclass
class CachedSeries:
    """Candles of one series plus the ranges known to be complete."""

    frame: pd.DataFrame
    covered: list[Interval] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> CachedSeries:
        if not path.exists():
            return cls(empty_frame(), [])
        frame = load_candles(path)
        with np.load(path, allow_pickle=False) as z:
            cov = z["covered"] if "covered" in z.files else np.empty((0, 2), np.int64)
        return cls(frame, [(int(a), int(b)) for a, b in cov.reshape(-1, 2)])

    def merge(self, rows: pd.DataFrame, covered: list[Interval]) -> int:
        """Add candles (newer values win on equal timestamps); return how many timestamps are new."""
        before = len(self.frame)
        if len(rows):
            both = pd.concat([self.frame, rows], ignore_index=True) if before else rows
            both = both.drop_duplicates("timestamp", keep="last")
            self.frame = both.sort_values("timestamp", kind="stable").reset_index(drop=True)
        self.covered = merge_intervals(self.covered + covered)
        return len(self.frame) - before

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        arrays = {c: self.frame[c].to_numpy() for c in COLUMNS}
        np.savez_compressed(buf, **arrays, covered=np.asarray(self.covered, dtype=np.int64).reshape(-1, 2))
        atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Gap:
    """Bars the exchange has no candle for, inside the requested range."""

    first_missing_ms: int
    missing_bars: int


@dataclass(frozen=True)
class DownloadResult:
    symbol: str
    timeframe: str
    path: Path
    rows_in_range: int
    rows_new: int
    requests: int
    first_ts: int | None
    last_ts: int | None
    gaps: tuple[Gap, ...]
    report: ValidationReport | None

    def summary(self) -> dict:
        return {"symbol": self.symbol, "timeframe": self.timeframe, "cache": str(self.path),
                "rows_in_range": self.rows_in_range, "rows_new": self.rows_new, "requests": self.requests,
                "first_ts": self.first_ts, "last_ts": self.last_ts,
                "gaps": [{"first_missing_ms": g.first_missing_ms, "missing_bars": g.missing_bars}
                         for g in self.gaps],
                "verdict": self.report.verdict if self.report else None}


# --------------------------------------------------------------------------- the fetcher
class HistoricalDataFetcher:
    """Downloads candles through the shared :class:`ExchangeClient` into the cache."""

    def __init__(self, client: ExchangeClient, cache_root: Path, *, page_limit: int = 1000,
                 checkpoint_s: float = 10.0, progress: Progress | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.cache_root = cache_root
        self.page_limit = page_limit
        self.checkpoint_s = checkpoint_s
        self.progress = progress
        self._monotonic = monotonic

    def path(self, symbol: str, timeframe: str) -> Path:
        return cache_file(self.cache_root, self.client.id, symbol, timeframe)

    async def download(self, symbol: str, timeframe: str, since_ms: int,
                       until_ms: int | None = None) -> DownloadResult:
        """Fetch what the cache lacks in [since, until) (until defaults to the newest closed candle)."""
        tf = timeframe_ms(timeframe)
        since_ms = -(-since_ms // tf) * tf  # align up to the candle grid
        closed_end = self.client.now_ms() // tf * tf
        end = min(until_ms, closed_end) if until_ms is not None else closed_end
        path = self.path(symbol, timeframe)
        cache = CachedSeries.load(path)
        missing = subtract_intervals((since_ms, end), cache.covered)
        total = sum(hi - lo for lo, hi in missing)
        calls0, new, done = self.client.calls, 0, 0
        try:
            for rng in missing:
                done, new = await self._fetch_range(symbol, timeframe, rng, cache, path, done, total, new)
        finally:
            if missing:
                cache.save(path)  # checkpoint whatever arrived, also when the download failed
        return self._result(symbol, timeframe, path, cache, (since_ms, end), new, self.client.calls - calls0)

    async def _fetch_range(self, symbol: str, timeframe: str, rng: Interval, cache: CachedSeries,
                           path: Path, done: int, total: int, new: int) -> tuple[int, int]:
        lo, hi = rng
        tf = timeframe_ms(timeframe)
        last_save = self._monotonic()
        async for page in self.client.iter_ohlcv(symbol, timeframe, lo, hi, self.page_limit):
            frame = frame_from_rows(page)
            reached = int(frame["timestamp"].iloc[-1]) + tf
            new += cache.merge(frame, [(lo, reached)])
            done += reached - lo
            lo = reached
            if self.progress:
                self.progress(done, total)
            if self._monotonic() - last_save >= self.checkpoint_s:
                cache.save(path)
                last_save = self._monotonic()
        cache.merge(empty_frame(), [(lo, hi)])  # the exchange has nothing more here: covered
        done += hi - lo
        if self.progress:
            self.progress(done, total)
        return done, new

    def _result(self, symbol: str, timeframe: str, path: Path, cache: CachedSeries, rng: Interval,
                new: int, requests: int) -> DownloadResult:
        tf = timeframe_ms(timeframe)
        f = cache.frame
        part = f[(f["timestamp"] >= rng[0]) & (f["timestamp"] < rng[1])]
        gaps = gap_list(part["timestamp"].to_numpy(), tf, rng)
        report = validate_candles(part, symbol=symbol, timeframe_ms=tf) if len(part) else None
        first = int(part["timestamp"].iloc[0]) if len(part) else None
        last = int(part["timestamp"].iloc[-1]) if len(part) else None
        return DownloadResult(symbol, timeframe, path, len(part), new, requests, first, last, tuple(gaps),
                              report)

    # ----------------------------------------------------------------- CSV import / export
    def import_csv(self, src: Path, symbol: str, timeframe: str) -> int:
        """Merge a ``timestamp,open,...`` CSV(.gz) into the cache; returns the number of new candles."""
        frame = load_candles(src)
        path = self.path(symbol, timeframe)
        cache = CachedSeries.load(path)
        tf = timeframe_ms(timeframe)
        ts = frame["timestamp"]
        span = [(int(ts.iloc[0]), int(ts.iloc[-1]) + tf)] if len(frame) else []
        new = cache.merge(frame, span)
        cache.save(path)
        return new

    def export_csv(self, dst: Path, symbol: str, timeframe: str, since_ms: int | None = None,
                   until_ms: int | None = None) -> int:
        """Write cached candles in [since, until) to ``dst`` (.csv, .csv.gz or .npz); returns the rows."""
        f = CachedSeries.load(self.path(symbol, timeframe)).frame
        lo = since_ms if since_ms is not None else -(2**62)
        hi = until_ms if until_ms is not None else 2**62
        part = f[(f["timestamp"] >= lo) & (f["timestamp"] < hi)]
        write_candles(dst, part)
        return len(part)


def gap_list(ts: np.ndarray, tf: int, rng: Interval) -> list[Gap]:
    """Missing bars in ``rng`` given the candle open times present (leading and trailing holes too)."""
    if ts.size == 0:
        n = (rng[1] - rng[0]) // tf
        return [Gap(rng[0], int(n))] if n > 0 else []
    edges = np.concatenate(([rng[0] - tf], ts, [rng[1]]))
    step = np.diff(edges)
    at = np.flatnonzero(step > tf)
    return [Gap(int(edges[i] + tf), int(step[i] // tf - 1)) for i in at if step[i] // tf - 1 > 0]
